package redis

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/broker"
)

// Send appends pub to the user's inbox when opts keeps history and delivers
// it to every node's HandleDirect, in one script on the inbox's Redis. A
// user's direct messages always travel from that Redis, so they arrive in
// offset order.
func (b *Broker) Send(ctx context.Context, user string, pub *broker.Publication, opts broker.StreamOptions) (broker.StreamPosition, error) {
	if b.closed.Load() {
		return broker.StreamPosition{}, broker.ErrClosed
	}
	w := write{
		keys: b.inboxKeys(user), stream: opts,
		// Plain PUBLISH even in Cluster mode: every node hears it.
		pubCmd: "publish", pubsub: b.directChannel(),
		prefix: string(appendString([]byte{msgDirect}, user)),
	}
	pos, _, err := b.append(ctx, b.shardFor(user).client, pub, w)
	if err != nil {
		return pos, b.fail(fmt.Errorf("redis: send to %s: %w", user, err))
	}
	return pos, nil
}

// InboxHistory reads a user's inbox as History reads a channel.
func (b *Broker) InboxHistory(ctx context.Context, user string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if b.closed.Load() {
		return nil, broker.StreamPosition{}, broker.ErrClosed
	}
	pubs, pos, err := b.read(ctx, b.shardFor(user).client, b.inboxKeys(user), opts)
	if err != nil && err != broker.ErrUnrecoverable {
		return nil, pos, b.fail(fmt.Errorf("redis: inbox of %s: %w", user, err))
	}
	return pubs, pos, err
}
