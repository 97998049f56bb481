package memory

// timers is a min-heap of deadlines, one per shard for presence entries and
// one for idempotency keys, so the sweeper touches only what is due instead
// of scanning every entry. (Streams have their own indexed heap, see
// streamHeap: they are large, and must not outlive their removal.)
//
// Entries are never removed or moved when the state they point at changes:
// the owner re-checks an entry when it pops and drops it if it is stale, or
// pushes it back if the deadline moved later. Publishing and refreshing thus
// cost no heap work at all in the common case.
type timers[T any] []timer[T]

type timer[T any] struct {
	at int64 // unix nanoseconds
	v  T
}

func (q *timers[T]) push(at int64, v T) {
	*q = append(*q, timer[T]{at, v})
	h := *q
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

// popDue removes and returns the earliest entry if it is due at now.
func (q *timers[T]) popDue(now int64) (timer[T], bool) {
	h := *q
	if len(h) == 0 || h[0].at > now {
		return timer[T]{}, false
	}
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = timer[T]{} // drop references for the GC
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].at < h[m].at {
			m = l
		}
		if r < len(h) && h[r].at < h[m].at {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	// Give memory back after a mass expiry.
	if cap(h) > 1024 && len(h) < cap(h)/4 {
		h = append(timers[T](nil), h...)
	}
	*q = h
	return top, true
}
