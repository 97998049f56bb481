package bench

// window is how far back a tracker remembers positions: a message older
// than the newest by more than this counts as a duplicate.
const window = 4096

// tracker counts distinct and duplicate positions (offsets, or sequence
// numbers where there are no offsets) that one subscriber saw on one
// channel. Loss is what was published minus what arrived distinct, so a
// missing tail counts as well as a gap. Not safe for concurrent use: each
// connection's reader owns its trackers.
type tracker struct {
	started bool
	newest  uint64
	seen    [window / 64]uint64
	unique  uint64
	dups    uint64
}

func (t *tracker) bit(pos uint64) (word int, mask uint64) {
	i := pos % window
	return int(i / 64), 1 << (i % 64)
}

// see records one arrival.
func (t *tracker) see(pos uint64) {
	switch {
	case !t.started:
		t.started, t.newest = true, pos
	case pos > t.newest:
		// Forget the slots the window slides past.
		for p := t.newest + 1; p <= pos && p-t.newest <= window; p++ {
			w, m := t.bit(p)
			t.seen[w] &^= m
		}
		if pos-t.newest > window {
			t.seen = [window / 64]uint64{}
		}
		t.newest = pos
	case t.newest-pos >= window:
		t.dups++
		return
	}
	w, m := t.bit(pos)
	if t.seen[w]&m != 0 {
		t.dups++
		return
	}
	t.seen[w] |= m
	t.unique++
}
