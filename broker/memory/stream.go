package memory

import (
	"container/heap"
	"crypto/rand"
	"encoding/hex"
	"math"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/broker"
)

// stream is a channel's or an inbox's history: publications with
// consecutive offsets, the newest last, and the epoch that names this run of
// offsets. A new stream (new epoch) replaces it when it is removed, evicted
// or its metadata expires; until then offsets only grow.
type stream struct {
	name    string
	epoch   string
	top     uint64  // offset of the newest publication ever appended
	entries []entry // retained, oldest first: offsets top-len+1..top
	metaExp int64   // unix ns after which the position itself is forgotten
	bytes   int64   // what the entries count toward Options.MaxRetainedBytes
	use     *usage
	// heapIdx is the stream's place in its set's timer heap, -1 when it has
	// none; at is its deadline there, when the sweeper next looks at it.
	heapIdx int
	at      int64
	// touched is the last append (or the creation); older and newer link
	// the set's streams in that order, for eviction.
	touched      int64
	older, newer *stream
}

type entry struct {
	pub     *broker.Publication
	expires int64 // unix ns
}

// entryOverhead is what a retained publication costs besides its data: the
// entry, the Publication and their allocation rounding.
const entryOverhead = 96

func entryBytes(pub *broker.Publication) int64 { return int64(len(pub.Data)) + entryOverhead }

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

func (s *stream) position() broker.StreamPosition {
	return broker.StreamPosition{Offset: s.top, Epoch: s.epoch}
}

// append adds pub with the next offset and trims to the options' size.
func (s *stream) append(pub *broker.Publication, now int64, opts broker.StreamOptions) broker.StreamPosition {
	s.top++
	pub.Offset = s.top
	s.entries = append(s.entries, entry{pub, now + int64(opts.TTL)})
	s.count(entryBytes(pub))
	if over := len(s.entries) - opts.Size; over > 0 {
		s.drop(over)
	}
	return s.position()
}

// trimExpired drops expired publications from the oldest end only: the
// retained publications must stay a contiguous run of offsets for gap
// detection to work, so if a namespace's TTL shrinks, a newer publication
// may outlive its TTL until the older ones before it go.
func (s *stream) trimExpired(now int64) {
	n := 0
	for n < len(s.entries) && s.entries[n].expires <= now {
		n++
	}
	if n > 0 {
		s.drop(n)
	}
}

// count adds n to the bytes retained, the stream's and the broker's.
func (s *stream) count(n int64) {
	s.bytes += n
	s.use.bytes.Add(n)
}

// drop forgets the n oldest publications.
func (s *stream) drop(n int) {
	var freed int64
	for _, e := range s.entries[:n] {
		freed += entryBytes(e.pub)
	}
	s.count(-freed)
	clear(s.entries[:n])
	s.entries = s.entries[n:]
	// Reslicing from the front shrinks the capacity, so the next append
	// reallocates and compacts. Only a stream that shrank (expiry, smaller
	// size) needs help giving memory back.
	if cap(s.entries) > 64 && len(s.entries) < cap(s.entries)/4 {
		s.entries = append([]entry(nil), s.entries...)
	}
}

// due is when the sweeper next has work on this stream.
func (s *stream) due() int64 {
	if len(s.entries) > 0 && s.entries[0].expires < s.metaExp {
		return s.entries[0].expires
	}
	return s.metaExp
}

// read selects publications as broker.History documents.
func (s *stream) read(opts broker.HistoryOptions) ([]*broker.Publication, error) {
	avail := s.entries
	var err error
	if since := opts.Since; since != nil {
		oldest := s.top - uint64(len(s.entries)) + 1 // offset of entries[0], top+1 when empty
		switch {
		case since.Epoch != s.epoch || since.Offset > s.top:
			// Not a position in this run of offsets: the client's state is
			// stale, so it gets everything there is.
			err = broker.ErrUnrecoverable
		case since.Offset+1 < oldest:
			err = broker.ErrUnrecoverable
		default:
			avail = s.entries[since.Offset+1-oldest:]
		}
	}
	if opts.Limit < 0 {
		return nil, err
	}
	n := len(avail)
	if opts.Limit > 0 && opts.Limit < n {
		n = opts.Limit
	}
	out := make([]*broker.Publication, n)
	if opts.Reverse {
		for i := range out {
			out[i] = avail[len(avail)-1-i].pub
		}
	} else {
		for i := range out {
			out[i] = avail[i].pub
		}
	}
	return out, err
}

// streamSet is one shard's streams of one kind (channels or inboxes), the
// heap of their deadlines and their order of last append.
//
// Each stream has at most one place in the heap, and leaves it when it is
// forgotten, so nothing keeps a removed, evicted or replaced stream (and
// the publications it held) reachable.
type streamSet struct {
	m      map[string]*stream
	timers streamHeap
	// oldest and newest end the list of streams by last append; oldestAt
	// is oldest's touched (math.MaxInt64 when empty), read without the
	// shard lock to choose where to evict.
	oldest, newest *stream
	oldestAt       atomic.Int64
	use            *usage
}

// usage is what a broker's streams hold, counted toward its caps.
type usage struct {
	bytes   atomic.Int64
	streams atomic.Int64
}

func (ss *streamSet) init(use *usage) {
	ss.m = make(map[string]*stream)
	ss.use = use
	ss.oldestAt.Store(math.MaxInt64)
}

// get returns the named stream, creating it with a new epoch when absent or
// when its metadata has expired, and keeps its position alive for at least
// metaTTL from now. Expired publications are dropped first, so callers see
// only what is retained. Callers schedule the stream once they are done
// changing it.
func (ss *streamSet) get(name string, now int64, metaTTL time.Duration) *stream {
	st := ss.m[name]
	if st != nil && now >= st.metaExp {
		ss.forget(st)
		st = nil
	}
	if st == nil {
		st = &stream{name: name, epoch: newEpoch(), use: ss.use, heapIdx: -1}
		ss.m[name] = st
		ss.use.streams.Add(1)
		ss.touch(st, now)
	}
	if exp := now + int64(metaTTL); exp > st.metaExp {
		st.metaExp = exp
	}
	st.trimExpired(now)
	return st
}

// append adds pub to st (see stream.append) and makes st the newest.
func (ss *streamSet) append(st *stream, pub *broker.Publication, now int64, opts broker.StreamOptions) broker.StreamPosition {
	pos := st.append(pub, now, opts)
	ss.touch(st, now)
	return pos
}

// touch moves st, new or not, to the newest end of the list.
func (ss *streamSet) touch(st *stream, now int64) {
	st.touched = now
	if ss.newest == st {
		ss.oldestAt.Store(ss.oldest.touched) // st may be the oldest too
		return
	}
	ss.unlink(st)
	st.older = ss.newest
	if ss.newest != nil {
		ss.newest.newer = st
	} else {
		ss.oldest = st
	}
	ss.newest = st
	ss.oldestAt.Store(ss.oldest.touched)
}

func (ss *streamSet) unlink(st *stream) {
	if st.older != nil {
		st.older.newer = st.newer
	} else if ss.oldest == st {
		ss.oldest = st.newer
	}
	if st.newer != nil {
		st.newer.older = st.older
	} else if ss.newest == st {
		ss.newest = st.older
	}
	st.older, st.newer = nil, nil
	if ss.oldest != nil {
		ss.oldestAt.Store(ss.oldest.touched)
	} else {
		ss.oldestAt.Store(math.MaxInt64)
	}
}

// forget drops a stream entirely: the next get creates one with a new
// epoch, and its publications are garbage from now on.
func (ss *streamSet) forget(st *stream) {
	delete(ss.m, st.name)
	if st.heapIdx >= 0 {
		heap.Remove(&ss.timers, st.heapIdx)
	}
	ss.unlink(st)
	st.count(-st.bytes)
	st.entries = nil
	ss.use.streams.Add(-1)
}

// remove forgets a stream by name, if there is one.
func (ss *streamSet) remove(name string) {
	if st := ss.m[name]; st != nil {
		ss.forget(st)
	}
}

// evictOldest forgets the stream appended to least recently and reports
// whether there was one.
func (ss *streamSet) evictOldest() bool {
	if ss.oldest == nil {
		return false
	}
	ss.forget(ss.oldest)
	return true
}

// schedule makes sure the stream's deadline in the heap is no later than
// its next due time. A later due time needs no change: the sweeper
// re-schedules the stream when the earlier deadline comes.
func (ss *streamSet) schedule(st *stream) {
	d := st.due()
	switch {
	case st.heapIdx < 0:
		st.at = d
		heap.Push(&ss.timers, st)
	case d < st.at:
		st.at = d
		heap.Fix(&ss.timers, st.heapIdx)
	}
}

// sweep handles up to budget due streams and reports whether more are due.
func (ss *streamSet) sweep(now int64, budget int) bool {
	for ; budget > 0; budget-- {
		if len(ss.timers) == 0 || ss.timers[0].at > now {
			return false
		}
		st := heap.Pop(&ss.timers).(*stream)
		if now >= st.metaExp {
			ss.forget(st)
			continue
		}
		st.trimExpired(now)
		ss.schedule(st)
	}
	return true
}

// streamHeap orders streams by deadline; container/heap keeps each
// stream's heapIdx current, so that forget can take it out.
type streamHeap []*stream

func (h streamHeap) Len() int           { return len(h) }
func (h streamHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h streamHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}

func (h *streamHeap) Push(x any) {
	st := x.(*stream)
	st.heapIdx = len(*h)
	*h = append(*h, st)
}

func (h *streamHeap) Pop() any {
	old := *h
	st := old[len(old)-1]
	old[len(old)-1] = nil // drop the reference for the GC
	st.heapIdx = -1
	*h = old[:len(old)-1]
	// Give memory back after a mass expiry.
	if cap(*h) > 1024 && len(*h) < cap(*h)/4 {
		*h = append(streamHeap(nil), *h...)
	}
	return st
}
