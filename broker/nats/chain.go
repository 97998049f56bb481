package nats

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Reading a stream's chain. Offsets map to stream sequences only through
// the messages themselves: other subjects' messages interleave, so the
// sequence of offset n is not top - (top offset - n). Following prev from
// the head reaches it, but at one request per message, which makes a page
// far below the head cost the whole backlog. Instead a reader seeks: it
// asks JetStream for the first message on the subject at or after a
// sequence (a direct "next by subject" get, nats-server 2.9) and narrows
// the sequence range by interpolating on the offsets it finds, bisecting
// every other step, so a seek costs a few requests whatever the distance.
// What lies between the seek's result and the page's end is then fetched
// with one consumer, and checked by walking the chain through it.

// errMoved says the stream changed under a seek (its upper bound was
// trimmed or purged); the caller reads the slow way instead.
var errMoved = errors.New("nats: stream moved during a seek")

// chainReader reads one subject's messages, from a prefetched set when it
// holds them.
type chainReader struct {
	b      *Broker
	ctx    context.Context
	subj   string
	stream jetstream.Stream
	cache  map[uint64]*stored
}

func (b *Broker) chain(ctx context.Context, subj string) *chainReader {
	return &chainReader{b: b, ctx: ctx, subj: subj, stream: b.st().history}
}

// decode turns a stream message into a stored record; a message that is
// not a record is returned with a nil rec, so that seeks can step over it.
func decodeStored(data []byte, seq uint64, at time.Time) *stored {
	rec, err := decodeRecord(data)
	if err != nil {
		rec = nil
	}
	return &stored{rec: rec, seq: seq, at: at}
}

// get returns the message at seq, nil when it is gone.
func (r *chainReader) get(seq uint64) (*stored, error) {
	if s := r.cache[seq]; s != nil {
		return s, nil
	}
	r.b.historyReads.Add(1)
	m, err := bySeq(r.ctx, r.stream, seq)
	if err != nil || m == nil {
		return nil, err
	}
	return decodeStored(m.Data, m.Sequence, m.Time), nil
}

// next returns the first message on the subject at sequence seq or after,
// nil when there is none.
func (r *chainReader) next(seq uint64) (*stored, error) {
	r.b.historyReads.Add(1)
	m, err := nextFor(r.ctx, r.stream, r.subj, seq)
	if err != nil || m == nil {
		return nil, err
	}
	return decodeStored(m.Data, m.Sequence, m.Time), nil
}

// prefetch reads up to n messages of the subject from sequence from on
// into the cache with one consumer. A message it misses (a replica behind
// the leader) is read on its own when asked for.
func (r *chainReader) prefetch(from uint64, n int) error {
	msgs, err := r.b.listFrom(r.ctx, r.stream, r.subj, from, n)
	if err != nil {
		return err
	}
	r.b.historyReads.Add(int64(len(msgs)))
	if r.cache == nil {
		r.cache = make(map[uint64]*stored, len(msgs))
	}
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil {
			r.cache[md.Sequence.Stream] = decodeStored(m.Data(), md.Sequence.Stream, md.Timestamp)
		}
	}
	return nil
}

// seek returns the subject's first message for which pred holds, given
// that it holds for hi and that, in stream order, it never turns false
// again once true. target is the offset pred looks for, which guides the
// interpolation.
func (r *chainReader) seek(hi *stored, target uint64, pred func(*stored) bool) (*stored, error) {
	var lo *stored     // the newest message known to fail pred
	loSeq := uint64(0) // no message up to loSeq satisfies pred
	end := hi.seq      // no message of the subject lies in [end, hi.seq)
	first, interpolate := true, false
	for loSeq+1 < end {
		x, tried := loSeq+(end-loSeq)/2, false
		switch {
		case first:
			x = 1 // the subject's oldest message: lo, or the answer
		case interpolate && lo != nil && lo.rec != nil && lo.rec.epoch == hi.rec.epoch &&
			lo.rec.offset < target && target <= hi.rec.offset:
			frac := float64(target-lo.rec.offset) / float64(hi.rec.offset-lo.rec.offset)
			x = min(max(lo.seq+uint64(frac*float64(hi.seq-lo.seq)), loSeq+1), end-1)
			tried = true
		}
		wasFirst := first
		first, interpolate = false, !interpolate
		m, err := r.next(x)
		if err != nil {
			return nil, err
		}
		switch {
		case m == nil || m.seq > hi.seq:
			return nil, errMoved
		case wasFirst && pred(m):
			return m, nil // nothing of the subject comes before it
		case m.seq == hi.seq:
			end = x
		case pred(m):
			hi, end = m, m.seq
			if tried && m.rec.prev != 0 && m.rec.prev > loSeq {
				// An interpolation usually lands on the answer: its
				// predecessor settles it in one request.
				p, err := r.get(m.rec.prev)
				if err != nil {
					return nil, err
				}
				if p == nil || !pred(p) {
					return hi, nil
				}
				hi, end = p, p.seq
			}
		default:
			lo, loSeq = m, m.seq
		}
	}
	return hi, nil
}

// walk follows the chain from the message at seq, which should be the
// publication at offset want in epoch, toward older ones down to offset
// stop, and returns the publications newest first. It ends early at a
// message that is gone, of another epoch, out of sequence or past its TTL.
// Markers are stepped over.
func (r *chainReader) walk(seq uint64, epoch string, want, stop uint64, now time.Time) ([]*stored, error) {
	if want-stop+1 > walkBulk && r.cache == nil && seq != 0 {
		// One consumer from the oldest wanted instead of a request per
		// message.
		head, err := r.get(seq)
		if err != nil {
			return nil, err
		}
		if head != nil && head.rec != nil && head.rec.epoch == epoch && head.rec.offset == want {
			from, err := r.seek(head, stop, func(s *stored) bool {
				return s.rec != nil && s.rec.epoch == epoch && s.rec.offset >= stop
			})
			if err != nil && !errors.Is(err, errMoved) {
				return nil, err
			}
			if from != nil {
				// The publications and, rarely, a few markers between them.
				if err := r.prefetch(from.seq, int(want-stop+1)+walkBulk); err != nil {
					return nil, err
				}
			}
		}
	}
	var out []*stored
	for seq != 0 && want >= stop && want > 0 {
		s, err := r.get(seq)
		if err != nil {
			return nil, err
		}
		if s == nil || s.rec == nil || s.rec.epoch != epoch {
			break
		}
		if s.rec.kind == kindMarker && s.rec.offset == want {
			seq = s.rec.prev
			continue
		}
		if s.rec.kind != kindPub || s.rec.offset != want || s.pubExpired(now) {
			break
		}
		out = append(out, s)
		seq, want = s.rec.prev, want-1
	}
	return out, nil
}

// offsetAtLeast is the seek predicate for the first message of epoch at
// offset n or above: pub n itself when it is there.
func offsetAtLeast(epoch string, n uint64) func(*stored) bool {
	return func(s *stored) bool { return s.rec != nil && s.rec.epoch == epoch && s.rec.offset >= n }
}

// present reports whether the publication at offset n of top's epoch is
// retained: stored, and within its TTL.
func (r *chainReader) present(top *stored, n uint64, now time.Time) (bool, error) {
	s, err := r.seek(top, n, offsetAtLeast(top.rec.epoch, n))
	if err != nil {
		return false, err
	}
	return s.rec.kind == kindPub && s.rec.offset == n && !s.pubExpired(now), nil
}

// oldest returns the oldest publication of the retained run below top, at
// offset lowest or above, nil when none is retained. Publications expire
// in stream order when their TTL is the stream's current one (top's), so
// the seek looks for the first message stored less than that TTL ago; ok
// is false when the result contradicts that (the namespace's TTL changed),
// and the caller reads the slow way.
func (r *chainReader) oldest(top *stored, lowest uint64, now time.Time) (s *stored, ok bool, err error) {
	epoch, ttl := top.rec.epoch, time.Duration(top.rec.ttl)*time.Millisecond
	live := func(s *stored) bool {
		return s.rec != nil && s.rec.epoch == epoch && s.rec.offset >= lowest && now.Before(s.at.Add(ttl))
	}
	if !live(top) {
		return nil, true, nil // everything expired
	}
	s, err = r.seek(top, lowest, live)
	if err != nil {
		return nil, false, err
	}
	for s.rec.kind == kindMarker {
		if s.seq == top.seq {
			return nil, true, nil
		}
		if s, err = r.next(s.seq + 1); err != nil || s == nil || s.rec == nil || s.seq > top.seq {
			return nil, false, err
		}
	}
	if s.rec.kind != kindPub || s.rec.epoch != epoch || s.pubExpired(now) {
		return nil, false, nil
	}
	// The one before must be gone, past its own TTL or below lowest.
	for p := s.rec.prev; p != 0 && s.rec.offset > lowest; {
		q, err := r.get(p)
		if err != nil {
			return nil, false, err
		}
		if q == nil || q.rec == nil || q.rec.epoch != epoch || q.rec.offset != s.rec.offset-1 {
			break
		}
		if q.rec.kind == kindMarker {
			p = q.rec.prev
			continue
		}
		if q.rec.kind == kindPub && !q.pubExpired(now) {
			return nil, false, nil
		}
		break
	}
	return s, true, nil
}
