package nats

import (
	"context"
	"slices"
	"sync"
	"time"
)

// orderer hands one stream's live publications to the Handler in offset
// order, one call at a time, never twice.
//
// Live messages travel apart from the stream: a publisher appends, then
// publishes the record on a core subject. Records from different nodes can
// overtake each other on the way, and a publisher that dies (or loses its
// connection) between the two steps leaves an offset that is stored but
// never sent. So the orderer keeps the next offset it expects; a record
// that arrives early waits, and if its predecessors have not come within
// ReorderWait they are read from the stream (each record names the stream
// sequence of the one before it). What the stream no longer has is
// skipped, and the Handler sees the gap, as it would a lost connection.
//
// An epoch other than the current one means the stream started over
// (removed, expired, or lost by the server): the orderer expects offset 1
// of the new epoch and ignores late records of the epochs it left.
type orderer struct {
	b    *Broker
	subj string // the stream subject, to read missing records from
	// deliver calls the Handler; it runs with mu held.
	deliver func(*record)

	mu     sync.Mutex
	closed bool
	// ready is false until the baseline is known; records wait in early.
	ready   bool
	early   []*record
	epoch   string
	next    uint64 // the offset to deliver next; 0: take the first that comes
	retired []string
	pending map[uint64]*record
	timer   *time.Timer
	// fetching is set while a goroutine reads missing records.
	fetching bool
	active   time.Time // last arrival, for evicting idle inbox orderers
}

// maxPending bounds the records held behind a missing one; past it the
// orderer gives up on the missing ones at once.
const maxPending = 10000

func newOrderer(b *Broker, subj string, deliver func(*record)) *orderer {
	return &orderer{b: b, subj: subj, deliver: deliver, pending: make(map[uint64]*record)}
}

// start sets the baseline: the stream's epoch and the offset after the
// newest one when the subscription became effective (epoch "" and next 1
// when the stream had no position). Records that arrived before are
// handled now.
func (o *orderer) start(epoch string, next uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.ready, o.epoch, o.next = true, epoch, next
	early := o.early
	o.early = nil
	for _, r := range early {
		o.add(r)
	}
}

// push hands a live record to the orderer.
func (o *orderer) push(r *record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.active = time.Now()
	if o.closed {
		return
	}
	if !o.ready {
		o.early = append(o.early, r)
		return
	}
	o.add(r)
}

// event delivers something unordered (a join or leave) under the
// orderer's lock, so that it never overlaps a publication and stops with
// the orderer.
func (o *orderer) event(fn func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		fn()
	}
}

// add places r; mu is held.
func (o *orderer) add(r *record) {
	if r.offset == 0 {
		o.deliver(r) // no history, nothing to order
		return
	}
	switch {
	case r.epoch == o.epoch:
	case slices.Contains(o.retired, r.epoch):
		return
	case o.next == 0 || o.epoch == "":
		// Taking the first record (an inbox seen for the first time), or
		// the stream had no position at the baseline.
		o.epoch = r.epoch
		if o.next == 0 {
			o.next = r.offset
		}
	default:
		// The stream started over: deliver what is left of the old epoch,
		// then expect the new one from its start.
		o.flush()
		o.retired = append(o.retired, o.epoch)
		if len(o.retired) > 4 {
			o.retired = o.retired[1:]
		}
		o.epoch, o.next = r.epoch, 1
	}
	switch {
	case r.offset < o.next:
		return // delivered already, or before the baseline
	case r.offset > o.next:
		if _, ok := o.pending[r.offset]; !ok {
			o.pending[r.offset] = r
		}
		if len(o.pending) > maxPending {
			o.flush()
			return
		}
		o.arm()
		return
	}
	o.deliver(r)
	o.next++
	o.drain()
}

// drain delivers the pending records that are next in line.
func (o *orderer) drain() {
	for {
		r, ok := o.pending[o.next]
		if !ok {
			break
		}
		delete(o.pending, o.next)
		o.deliver(r)
		o.next++
	}
	if len(o.pending) == 0 && o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
}

// flush gives up on what is missing and delivers every pending record in
// offset order.
func (o *orderer) flush() {
	for len(o.pending) > 0 {
		o.next = o.lowest()
		o.drain()
	}
}

func (o *orderer) lowest() uint64 {
	low := uint64(0)
	for off := range o.pending {
		if low == 0 || off < low {
			low = off
		}
	}
	return low
}

// arm starts the wait for a missing record.
func (o *orderer) arm() {
	if o.timer == nil && !o.fetching {
		o.timer = time.AfterFunc(o.b.opts.ReorderWait, o.expire)
	}
}

// expire runs when a missing record did not arrive in time: it reads it
// (and any others missing before the earliest pending one) from the
// stream, on a goroutine, while later records keep queueing.
func (o *orderer) expire() {
	o.mu.Lock()
	o.timer = nil
	if o.closed || o.fetching || len(o.pending) == 0 {
		o.mu.Unlock()
		return
	}
	first := o.pending[o.lowest()]
	epoch, from := o.epoch, o.next
	if first.size < first.offset {
		// What is past the stream's size is gone, even if not trimmed yet.
		from = max(from, first.offset-first.size+1)
	}
	o.fetching = true
	o.mu.Unlock()

	started := o.b.spawn(func() {
		var found []*stored
		err := o.b.check()
		if err == nil {
			ctx, cancel := context.WithTimeout(o.b.bg, o.b.opts.Timeout)
			found, err = o.b.chain(ctx, o.subj).walk(first.prev, epoch, first.offset-1, from, time.Now())
			cancel()
		}
		if err != nil {
			o.b.opts.Logger.Warn("nats: read missing publications", "subject", o.subj, "err", err)
		}
		o.filled(epoch, found)
	})
	if !started {
		o.mu.Lock()
		o.fetching = false
		o.mu.Unlock()
	}
}

// filled takes the records read for a gap; what is still missing after
// them is gone from the stream and skipped.
func (o *orderer) filled(epoch string, found []*stored) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fetching = false
	if o.closed || epoch != o.epoch {
		return
	}
	for _, s := range found {
		if s.rec.offset >= o.next {
			if _, ok := o.pending[s.rec.offset]; !ok {
				o.pending[s.rec.offset] = s.rec
			}
		}
	}
	if _, ok := o.pending[o.next]; !ok && len(o.pending) > 0 {
		o.next = o.lowest()
	}
	o.drain()
	if len(o.pending) > 0 {
		o.arm()
	}
}

// close stops deliveries: once it returns none is in progress or will
// start.
func (o *orderer) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	o.pending, o.early = nil, nil
}

// idle reports whether the orderer has nothing in flight and saw nothing
// since before.
func (o *orderer) idle(before time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending) == 0 && !o.fetching && o.active.Before(before)
}
