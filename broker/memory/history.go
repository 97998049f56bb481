package memory

import (
	"context"

	"github.com/heraldhq/herald/broker"
)

// History reads a channel's stream. Reading creates the stream of a channel
// never published to, so that its fresh epoch is remembered: a client that
// subscribed to an empty channel can later recover from {0, epoch}.
func (b *Broker) History(_ context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if b.closed.Load() {
		return nil, broker.StreamPosition{}, broker.ErrClosed
	}
	defer b.enforceCaps() // the read may have created the stream
	now := b.now()
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.channels.get(channel, now, b.metaTTL(opts.MetaTTL))
	pubs, err := st.read(opts)
	s.channels.schedule(st)
	return pubs, st.position(), err
}

// RemoveHistory forgets a channel's stream; the next one has a new epoch and
// starts again at offset 1. Its publications are unreachable once it
// returns.
func (b *Broker) RemoveHistory(_ context.Context, channel string) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	s.channels.remove(channel)
	s.mu.Unlock()
	return nil
}
