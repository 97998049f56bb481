package memory

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/heraldhq/herald/broker"
)

// stream is a channel's or an inbox's history: publications with
// consecutive offsets, the newest last, and the epoch that names this run of
// offsets. A new stream (new epoch) replaces it when it is removed or its
// metadata expires; until then offsets only grow.
type stream struct {
	name    string
	epoch   string
	top     uint64  // offset of the newest publication ever appended
	entries []entry // retained, oldest first: offsets top-len+1..top
	metaExp int64   // unix ns after which the position itself is forgotten
	// scheduled is the deadline of this stream's live timer, 0 when none;
	// gen names that timer, so that superseded ones are recognised.
	scheduled int64
	gen       uint64
}

type entry struct {
	pub     *broker.Publication
	expires int64 // unix ns
}

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

// drop forgets the n oldest publications.
func (s *stream) drop(n int) {
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

// streamSet is one shard's streams of one kind (channels or inboxes) and the
// timers that expire them.
type streamSet struct {
	m      map[string]*stream
	timers timers[streamTimer]
}

type streamTimer struct {
	st  *stream
	gen uint64
}

func (ss *streamSet) init() { ss.m = make(map[string]*stream) }

// get returns the named stream, creating it with a new epoch when absent or
// when its metadata has expired, and keeps its position alive for at least
// metaTTL from now. Expired publications are dropped first, so callers see
// only what is retained. Callers schedule the stream once they are done
// changing it.
func (ss *streamSet) get(name string, now int64, metaTTL time.Duration) *stream {
	st := ss.m[name]
	if st == nil || now >= st.metaExp {
		// A replaced stream's timer goes stale: it points at the old one.
		st = &stream{name: name, epoch: newEpoch()}
		ss.m[name] = st
	}
	if exp := now + int64(metaTTL); exp > st.metaExp {
		st.metaExp = exp
	}
	st.trimExpired(now)
	return st
}

// remove forgets a stream; the next get creates one with a new epoch.
func (ss *streamSet) remove(name string) { delete(ss.m, name) }

// schedule makes sure a timer fires no later than the stream's next due
// time. A later due time needs no new timer: the current one re-schedules
// when it fires.
func (ss *streamSet) schedule(st *stream) {
	if d := st.due(); st.scheduled == 0 || d < st.scheduled {
		st.scheduled = d
		st.gen++
		ss.timers.push(d, streamTimer{st, st.gen})
	}
}

// sweep handles up to budget due timers and reports whether more are due.
func (ss *streamSet) sweep(now int64, budget int) bool {
	for ; budget > 0; budget-- {
		t, ok := ss.timers.popDue(now)
		if !ok {
			return false
		}
		st := t.v.st
		if ss.m[st.name] != st || st.gen != t.v.gen {
			continue // replaced, removed or superseded by an earlier timer
		}
		st.scheduled = 0
		if now >= st.metaExp {
			delete(ss.m, st.name)
			continue
		}
		st.trimExpired(now)
		ss.schedule(st)
	}
	return true
}
