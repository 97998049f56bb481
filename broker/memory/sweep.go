package memory

import (
	"time"

	"github.com/heraldhq/herald/broker"
)

// sweepLoop frees expired state every SweepInterval until Close. Reads
// already ignore expired state; this only keeps memory bounded by what is
// live.
func (b *Broker) sweepLoop() {
	defer close(b.done)
	t := time.NewTicker(b.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.sweep()
		}
	}
}

// sweep frees whatever is due now in every shard, a batch per lock hold so
// that publishers on a shard wait at most one batch.
func (b *Broker) sweep() {
	now := b.now()
	h := b.h()
	for i := range b.shards {
		s := &b.shards[i]
		for more := true; more; {
			s.mu.Lock()
			more = s.sweepOnce(now, sweepBatch, h)
			s.mu.Unlock()
		}
	}
}

// sweepOnce handles up to about budget due timers of each kind and reports
// whether any kind has more due. Expired presence entries are announced to h
// (nil for none) as leaves on subscribed channels.
func (s *shard) sweepOnce(now int64, budget int, h broker.Handler) bool {
	more := s.channels.sweep(now, budget)
	more = s.inboxes.sweep(now, budget) || more
	more = s.presence.sweep(now, budget, func(channel string, info *broker.ClientInfo) {
		if _, ok := s.subscribed[channel]; ok && h != nil {
			h.HandleLeave(channel, info)
		}
	}) || more
	more = s.idem.sweep(now, budget) || more
	return more
}
