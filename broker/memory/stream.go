package memory

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/heraldhq/herald/broker"
)

// stream is a channel's or an inbox's history: publications with
// consecutive offsets, the newest last, and the epoch that names this run of
// offsets.
type stream struct {
	epoch   string
	top     uint64                // offset of the newest publication ever appended
	pubs    []*broker.Publication // retained, oldest first; offsets top-len+1..top
	expires []int64               // unix ms after which pubs[i] is dropped
	metaExp time.Time             // when the whole stream (and its epoch) is forgotten
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newStream() *stream { return &stream{epoch: newEpoch()} }

// trimExpired drops publications whose TTL has passed.
func (s *stream) trimExpired(nowMs int64) {
	n := 0
	for n < len(s.pubs) && s.expires[n] <= nowMs {
		n++
	}
	if n > 0 {
		s.drop(n)
	}
}

// drop forgets the n oldest publications.
func (s *stream) drop(n int) {
	clear(s.pubs[:n])
	s.pubs = s.pubs[n:]
	s.expires = s.expires[n:]
	// Compact once the dead prefix dominates, so the array does not grow
	// without bound on a busy channel.
	if cap(s.pubs) > 64 && len(s.pubs) < cap(s.pubs)/4 {
		s.pubs = append([]*broker.Publication(nil), s.pubs...)
		s.expires = append([]int64(nil), s.expires...)
	}
}

// append adds pub with the next offset and trims to size.
func (s *stream) append(pub *broker.Publication, size int, ttl time.Duration) {
	s.top++
	pub.Offset = s.top
	s.pubs = append(s.pubs, pub)
	s.expires = append(s.expires, pub.Time+ttl.Milliseconds())
	if over := len(s.pubs) - size; over > 0 {
		s.drop(over)
	}
}

func (s *stream) position() broker.StreamPosition {
	return broker.StreamPosition{Offset: s.top, Epoch: s.epoch}
}

// read selects publications as broker.History documents.
func (s *stream) read(opts broker.HistoryOptions) ([]*broker.Publication, error) {
	oldest := s.top - uint64(len(s.pubs)) + 1 // offset of pubs[0]
	avail := s.pubs
	var err error
	if since := opts.Since; since != nil {
		switch {
		case since.Epoch != s.epoch:
			err = broker.ErrUnrecoverable
		case since.Offset > s.top:
			err = broker.ErrUnrecoverable
			avail = nil
		default:
			if since.Offset+1 < oldest {
				err = broker.ErrUnrecoverable
			} else {
				avail = s.pubs[since.Offset+1-oldest:]
			}
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
		for i := range n {
			out[i] = avail[len(avail)-1-i]
		}
	} else {
		copy(out, avail[:n])
	}
	return out, err
}
