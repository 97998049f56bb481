package nats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/broker"
)

// A channel's (or inbox's) stream is the chain of messages on its subject
// in the history stream. Each message is a record (codec.go) holding its
// offset and epoch and the stream sequence of the message before it, so
// the chain can be walked from the newest message back. Appending is a
// compare-and-set: the new message is stored only if the subject's newest
// message is still the one the offset was computed from
// (Nats-Expected-Last-Subject-Sequence), so offsets never skip or repeat
// whichever node appends.
//
// JetStream keeps messages for HistoryMaxAge; the broker applies each
// publication's TTL and the stream's size when reading, and trims what is
// past the size in the background. The newest message is kept as long as
// the position must live, so a stream whose publications all expired still
// knows its offset and epoch. A marker (a record without publication)
// starts an empty stream's epoch when it is first read, and refreshes the
// position's life when a read finds it half spent.

// walkBulk is the depth beyond which reads fetch a subject's messages
// through one consumer instead of one request per message.
const walkBulk = 16

// stored is a record read back from the stream.
type stored struct {
	rec *record
	seq uint64
	at  time.Time // when JetStream stored it
}

// expired reports whether the position the record carries has outlived
// its life: the stream then starts again with a new epoch.
func (s *stored) expired(now time.Time) bool {
	return !now.Before(s.at.Add(time.Duration(s.rec.life) * time.Millisecond))
}

// pubExpired reports whether the publication has outlived its TTL.
func (s *stored) pubExpired(now time.Time) bool {
	return !now.Before(s.at.Add(time.Duration(s.rec.ttl) * time.Millisecond))
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

func (b *Broker) metaTTL(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return b.opts.MetaTTL
}

// head reads the newest message of a stream subject, nil when it has none.
func (b *Broker) head(ctx context.Context, subj string) (*stored, error) {
	m, err := last(ctx, b.st().history, subj)
	if err != nil || m == nil {
		return nil, err
	}
	rec, err := decodeRecord(m.Data)
	if err != nil {
		return nil, err
	}
	return &stored{rec: rec, seq: m.Sequence, at: m.Time}, nil
}

// appendLog appends pub to the stream on subj with the next offset. live
// runs with the stored record before any later append to subj from this
// node, so that this node publishes its appends live in offset order.
func (b *Broker) appendLog(ctx context.Context, subj string, pub *broker.Publication, so broker.StreamOptions, live func(*record)) (*record, error) {
	w := b.writers.acquire(subj)
	defer b.writers.release(w)
	w.mu.Lock()
	defer w.mu.Unlock()
	life := max(b.metaTTL(so.MetaTTL), so.TTL)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		top := b.writers.cached(w)
		if top == nil {
			var err error
			if top, err = b.head(ctx, subj); err != nil {
				return nil, err
			}
		}
		now := time.Now()
		rec := &record{
			kind: kindPub, time: pub.Time, ttl: ms(so.TTL), life: ms(life), size: uint64(so.Size),
			info: pub.Info, data: pub.Data,
		}
		if top == nil || top.expired(now) {
			rec.offset, rec.epoch = 1, newEpoch()
		} else {
			rec.offset, rec.epoch = top.rec.offset+1, top.rec.epoch
		}
		if top != nil {
			rec.prev = top.seq // also when expired: the append replaces it
		}
		seq, err := b.appendIf(ctx, subj, rec.encode(), rec.prev)
		if isWrongLast(err) {
			b.writers.store(w, nil) // another node appended: read again
			continue
		}
		if err != nil {
			b.writers.store(w, nil)
			return nil, err
		}
		rec.seq = seq
		b.writers.store(w, &stored{rec: &record{offset: rec.offset, epoch: rec.epoch, life: rec.life}, seq: seq, at: now})
		live(rec)
		if every := max(uint64(so.Size)/2, 16); rec.offset%every == 0 {
			b.requestTrim(subj, uint64(so.Size)+1)
		}
		return rec, nil
	}
}

// readLog reads a stream as broker.History documents.
func (b *Broker) readLog(ctx context.Context, subj string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if err := b.check(); err != nil {
		return nil, broker.StreamPosition{}, err
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	metaTTL := b.metaTTL(opts.MetaTTL)
	for {
		top, err := b.head(ctx, subj)
		if err != nil {
			return nil, broker.StreamPosition{}, err
		}
		now := time.Now()
		if top == nil || top.expired(now) {
			// No live position: start one. The marker makes the epoch
			// stable for every reader and the first publisher adopts it.
			rec := &record{kind: kindMarker, epoch: newEpoch(), life: ms(metaTTL)}
			if top != nil {
				rec.prev = top.seq
			}
			if _, err := b.appendIf(ctx, subj, rec.encode(), rec.prev); isWrongLast(err) {
				continue // someone else wrote first; read what they wrote
			} else if err != nil {
				return nil, broker.StreamPosition{}, err
			}
			pos := broker.StreamPosition{Epoch: rec.epoch}
			if s := opts.Since; s != nil && *s != pos {
				return nil, pos, broker.ErrUnrecoverable
			}
			return nil, pos, nil
		}
		b.refresh(ctx, subj, top, metaTTL, now)
		return b.collect(ctx, subj, top, opts, now)
	}
}

// refresh extends the position's life to metaTTL from now, as a read
// must, when less than half of that is left, by appending a marker that
// repeats the position. Losing the race to another append is fine: that
// append refreshed it.
func (b *Broker) refresh(ctx context.Context, subj string, top *stored, metaTTL time.Duration, now time.Time) {
	left := top.at.Add(time.Duration(top.rec.life) * time.Millisecond).Sub(now)
	if left >= metaTTL/2 {
		return
	}
	rec := &record{
		kind: kindMarker, offset: top.rec.offset, epoch: top.rec.epoch, prev: top.seq,
		life: ms(max(metaTTL, left)), ttl: top.rec.ttl, size: top.rec.size,
	}
	if _, err := b.appendIf(ctx, subj, rec.encode(), top.seq); err != nil && !isWrongLast(err) {
		b.opts.Logger.Warn("nats: refresh stream position", "subject", subj, "err", err)
	}
}

// collect selects publications below top as broker.HistoryOptions
// documents. The retained publications are the newest run of the
// position's epoch that is within the stream's size and whose TTL has not
// passed; a chain broken by trimming or expiry ends the run.
//
// Reading the run from the top costs one message per offset between the
// top and the oldest one wanted. When that is much more than the page
// asked for, collectFar serves the page from where it starts instead.
func (b *Broker) collect(ctx context.Context, subj string, top *stored, opts broker.HistoryOptions, now time.Time) ([]*broker.Publication, broker.StreamPosition, error) {
	t := top.rec
	pos := broker.StreamPosition{Offset: t.offset, Epoch: t.epoch}
	lowest := uint64(1) // the oldest offset the size allows
	if t.size < t.offset {
		lowest = t.offset - t.size + 1
	}
	if t.size == 0 {
		lowest = t.offset + 1
	}
	var unrecoverable bool
	stop := lowest // the oldest offset worth reading
	check := false // whether the run must reach since+1
	if s := opts.Since; s != nil {
		switch {
		case s.Epoch != t.epoch || s.Offset > t.offset:
			unrecoverable = true
		case s.Offset+1 < lowest:
			unrecoverable = true
		default:
			stop, check = s.Offset+1, true
		}
	}
	if opts.Limit < 0 && !check {
		return nil, pos, errIf(unrecoverable)
	}
	r := b.chain(ctx, subj)
	if far := stop <= t.offset && t.offset-stop+1 > uint64(max(opts.Limit, 0))+farSlack; far && opts.Limit != 0 {
		out, broken, ok, err := r.collectFar(top, opts, now, lowest, stop, check)
		if err != nil && !errors.Is(err, errMoved) {
			return nil, pos, err
		}
		if ok && err == nil {
			return out, pos, errIf(broken || unrecoverable)
		}
	}
	if opts.Reverse && opts.Limit > 0 && !check && t.offset >= uint64(opts.Limit) {
		stop = max(stop, t.offset-uint64(opts.Limit)+1)
	}
	run, err := r.run(top, stop, now)
	if err != nil {
		return nil, pos, err
	}
	if check && (len(run) == 0 && stop <= t.offset || len(run) > 0 && run[len(run)-1].rec.offset > stop) {
		unrecoverable = true // the run does not reach since+1
	}
	if opts.Limit < 0 {
		return nil, pos, errIf(unrecoverable)
	}
	return page(run, opts), pos, errIf(unrecoverable)
}

// farSlack is how many more messages than a page asks for a read may
// walk from the top before collectFar serves the page instead: below it,
// one walk is cheaper than the seek.
const farSlack = 2 * walkBulk

// run returns the retained publications from top down to offset stop,
// newest first.
func (r *chainReader) run(top *stored, stop uint64, now time.Time) ([]*stored, error) {
	t := top.rec
	var run []*stored
	want := t.offset
	if t.kind == kindPub {
		if top.pubExpired(now) || t.offset < stop {
			want = 0
		} else {
			run = append(run, top)
			want--
		}
	}
	if want >= stop && want > 0 {
		more, err := r.walk(t.prev, t.epoch, want, stop, now)
		if err != nil {
			return nil, err
		}
		run = append(run, more...)
	}
	return run, nil
}

// page turns a run, newest first, into the publications opts asks for.
func page(run []*stored, opts broker.HistoryOptions) []*broker.Publication {
	n := len(run)
	if opts.Limit > 0 && opts.Limit < n {
		n = opts.Limit
	}
	out := make([]*broker.Publication, n)
	for i := range out {
		if opts.Reverse {
			out[i] = run[i].rec.publication()
		} else {
			out[i] = run[len(run)-1-i].rec.publication()
		}
	}
	return out
}

// collectFar serves a read whose oldest wanted offset, stop, is far below
// the top, at a cost in proportion to the page rather than the distance:
//
//   - a verdict on Since alone (negative Limit): is since+1 retained?
//   - newest first with a Limit: the newest Limit, and the verdict;
//   - oldest first with a Limit: the verdict, then Limit publications from
//     since+1, or when that is lost (or there is no Since) from the oldest
//     retained one.
//
// The verdict looks at since+1 itself, and a page checks that its own
// publications continue each other; a break between the page and the top
// is reported by the page that reaches it. ok is false when the stream
// does not look as a seek expects (a TTL that changed, a break inside the
// page): the caller then reads from the top.
func (r *chainReader) collectFar(top *stored, opts broker.HistoryOptions, now time.Time, lowest, stop uint64, check bool) (out []*broker.Publication, broken, ok bool, err error) {
	t := top.rec
	if check {
		present, err := r.present(top, stop, now)
		if err != nil {
			return nil, false, false, err
		}
		broken = !present
	}
	switch {
	case opts.Limit < 0:
		return nil, broken, true, nil
	case opts.Reverse:
		if t.offset < uint64(opts.Limit) {
			return nil, false, false, nil
		}
		run, err := r.run(top, t.offset-uint64(opts.Limit)+1, now)
		if err != nil {
			return nil, false, false, err
		}
		// A run that stops short cannot reach since+1 either.
		return page(run, opts), broken || check && len(run) < opts.Limit, true, nil
	}
	from := stop
	if !check || broken {
		s, ok, err := r.oldest(top, lowest, now)
		if err != nil || !ok {
			return nil, false, false, err
		}
		if s == nil {
			return nil, broken, true, nil
		}
		from = s.rec.offset
	}
	end := min(from+uint64(opts.Limit)-1, t.offset)
	last := top
	if end < t.offset || t.kind != kindPub {
		if last, err = r.seek(top, end, offsetAtLeast(t.epoch, end)); err != nil {
			return nil, false, false, err
		}
	}
	if last.rec.kind != kindPub || last.rec.offset != end || last.pubExpired(now) {
		return nil, false, false, nil
	}
	run := []*stored{last}
	if end > from {
		more, err := r.walk(last.rec.prev, t.epoch, end-1, from, now)
		if err != nil {
			return nil, false, false, err
		}
		run = append(run, more...)
	}
	if uint64(len(run)) != end-from+1 {
		return nil, false, false, nil // a break inside the page
	}
	return page(run, opts), broken, true, nil
}

func errIf(unrecoverable bool) error {
	if unrecoverable {
		return broker.ErrUnrecoverable
	}
	return nil
}

// History reads a channel's stream. Reading a channel never published to,
// or whose position expired, starts its stream with a new epoch.
func (b *Broker) History(ctx context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	return b.readLog(ctx, b.subj.channelLog(channel), opts)
}

// RemoveHistory drops a channel's stream; the next read or publish starts
// one with a new epoch.
func (b *Broker) RemoveHistory(ctx context.Context, channel string) error {
	if err := b.check(); err != nil {
		return err
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	return b.st().history.Purge(ctx, jetstream.WithPurgeSubject(b.subj.channelLog(channel)))
}

type trimRequest struct {
	subj string
	keep uint64
}

// requestTrim asks the trimmer to drop all but the newest keep messages of
// subj. Reads already ignore what is past the size, so a request dropped
// when the queue is full only costs storage until the next one.
func (b *Broker) requestTrim(subj string, keep uint64) {
	select {
	case b.trims <- trimRequest{subj, keep}:
	default:
	}
}

func (b *Broker) trimLoop() {
	for {
		select {
		case <-b.stop:
			return
		case r := <-b.trims:
			ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
			err := b.st().history.Purge(ctx, jetstream.WithPurgeSubject(r.subj), jetstream.WithPurgeKeep(r.keep))
			cancel()
			if err != nil && b.nc.IsConnected() {
				b.opts.Logger.Warn("nats: trim stream", "subject", r.subj, "err", err)
			}
		}
	}
}
