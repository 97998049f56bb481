package redis

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/broker"
)

// History reads a channel's stream. Reading creates the position of a
// channel never published to, so that its fresh epoch is remembered for
// MetaTTL: a client that subscribed to an empty channel can later recover
// from {0, epoch}.
func (b *Broker) History(ctx context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if b.closed.Load() {
		return nil, broker.StreamPosition{}, broker.ErrClosed
	}
	pubs, pos, err := b.read(ctx, b.shardFor(channel).client, b.channelKeys(channel), opts)
	if err != nil && err != broker.ErrUnrecoverable {
		return nil, pos, b.fail(fmt.Errorf("redis: history of %s: %w", channel, err))
	}
	return pubs, pos, err
}

// RemoveHistory deletes a channel's stream and position; the next one has a
// new epoch and starts again at offset 1.
func (b *Broker) RemoveHistory(ctx context.Context, channel string) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	k := b.channelKeys(channel)
	if err := b.shardFor(channel).client.Del(ctx, k.stream(), k.meta()).Err(); err != nil {
		return b.fail(fmt.Errorf("redis: remove history of %s: %w", channel, err))
	}
	return nil
}
