package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/broker"
)

var errNotRunning = errors.New("redis: Subscribe before Run")

// Subscribe makes this node receive the channel's publications and presence
// events. It returns once Redis confirmed the subscription: anything
// published after it returns is delivered. While the pub/sub connection is
// down it waits for it, up to Options.Timeout or ctx's deadline.
func (b *Broker) Subscribe(ctx context.Context, channel string) error {
	c, name, err := b.channelConn(ctx, channel)
	if err != nil {
		return err
	}
	return b.fail(c.subscribe(ctx, name, target{kind: kindChannel, channel: channel}))
}

// Unsubscribe stops the channel's deliveries. It returns once Redis
// confirmed it, so nothing published afterwards is delivered.
func (b *Broker) Unsubscribe(ctx context.Context, channel string) error {
	c, name, err := b.channelConn(ctx, channel)
	if err != nil {
		return err
	}
	return b.fail(c.unsubscribe(ctx, name))
}

// channelConn returns the subscriber connection carrying a channel and the
// channel's Redis pub/sub name.
func (b *Broker) channelConn(ctx context.Context, channel string) (*subConn, string, error) {
	if b.closed.Load() {
		return nil, "", broker.ErrClosed
	}
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	if !started {
		return nil, "", errNotRunning
	}
	name := b.channelKeys(channel).pubsub()
	if b.cluster == nil {
		return b.shardFor(channel).sub, name, nil
	}
	c, err := b.nodeConn(ctx, name)
	return c, name, b.fail(err)
}

// nodeConn returns, in Cluster mode, the sharded subscriber connection to
// the master that owns a pub/sub channel's slot, starting it on first use.
func (b *Broker) nodeConn(ctx context.Context, name string) (*subConn, error) {
	node, err := b.cluster.MasterForKey(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("redis: find the node of %s: %w", name, err)
	}
	addr := node.Options().Addr
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, broker.ErrClosed
	}
	c := b.nodes[addr]
	if c == nil {
		c = b.newSubConn(addr, b.cluster, true, func(ctx context.Context) *redis.PubSub { return node.Subscribe(ctx) })
		b.nodes[addr] = c
		b.conns = append(b.conns, c)
		b.startLocked(c)
	}
	return c, nil
}

// Publish appends to the channel's stream when opts.Stream keeps history
// and delivers to every subscribed node, in one script on the channel's
// Redis (see the package comment). It sets pub.Offset, and pub.Time when
// zero, like the memory broker.
func (b *Broker) Publish(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	if b.closed.Load() {
		return broker.StreamPosition{}, false, broker.ErrClosed
	}
	k := b.channelKeys(channel)
	w := write{
		keys: k, stream: opts.Stream,
		idemKey: opts.IdempotencyKey, idemTTL: ms(opts.IdempotencyTTL),
		pubCmd: b.pubCmd, pubsub: k.pubsub(), prefix: string(msgPublication),
	}
	pos, repeated, err := b.append(ctx, b.shardFor(channel).client, pub, w)
	if err != nil {
		return pos, false, b.fail(fmt.Errorf("redis: publish to %s: %w", channel, err))
	}
	return pos, repeated, nil
}

// PublishJoin delivers a join to the nodes subscribed to the channel, in
// order with its publications (same pub/sub channel).
func (b *Broker) PublishJoin(ctx context.Context, channel string, info *broker.ClientInfo) error {
	return b.presenceEvent(ctx, channel, msgJoin, info)
}

// PublishLeave delivers a leave, as PublishJoin.
func (b *Broker) PublishLeave(ctx context.Context, channel string, info *broker.ClientInfo) error {
	return b.presenceEvent(ctx, channel, msgLeave, info)
}

func (b *Broker) presenceEvent(ctx context.Context, channel string, kind byte, info *broker.ClientInfo) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	msg := appendInfo([]byte{kind}, info)
	name := b.channelKeys(channel).pubsub()
	client := b.shardFor(channel).client
	var err error
	if b.cluster != nil {
		err = client.SPublish(ctx, name, msg).Err()
	} else {
		err = client.Publish(ctx, name, msg).Err()
	}
	if err != nil {
		return b.fail(fmt.Errorf("redis: presence event on %s: %w", channel, err))
	}
	return nil
}

// PublishControl delivers data to every node's HandleControl, this one
// included.
func (b *Broker) PublishControl(ctx context.Context, data []byte) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	name := b.controlChannel()
	if err := b.shardFor(name).client.Publish(ctx, name, data).Err(); err != nil {
		return b.fail(fmt.Errorf("redis: publish control: %w", err))
	}
	return nil
}
