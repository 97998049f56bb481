package memory

import (
	"context"

	"github.com/heraldhq/herald/broker"
)

// Subscribe makes this node receive the channel's publications and presence
// events.
func (b *Broker) Subscribe(_ context.Context, channel string) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	s.subscribed[channel] = struct{}{}
	s.mu.Unlock()
	return nil
}

// Unsubscribe stops the channel's deliveries. Once it returns, no delivery
// for the channel is in progress or will start.
func (b *Broker) Unsubscribe(_ context.Context, channel string) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	delete(s.subscribed, channel)
	s.mu.Unlock()
	return nil
}

// Publish appends pub to the channel's stream when opts.Stream keeps
// history, and delivers it if this node subscribed to the channel. The
// idempotency check, the append and the delivery happen under the channel's
// shard lock: concurrent publishers get consecutive offsets, and the Handler
// sees them in that order, one at a time. pub is stored and delivered as is
// (see the package comment); its Offset is set, and its Time when zero.
func (b *Broker) Publish(_ context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	if b.closed.Load() {
		return broker.StreamPosition{}, false, broker.ErrClosed
	}
	defer b.enforceCaps()
	now := b.now()
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	ik := idemKey{channel, opts.IdempotencyKey}
	if ik.key != "" {
		if pos, ok := s.idem.lookup(ik, now); ok {
			return pos, true, nil
		}
	}
	if pub.Time == 0 {
		pub.Time = now / 1e6
	}
	var pos broker.StreamPosition
	if opts.Stream.Keeps() {
		// The position outlives the publications it numbers, whatever the
		// options say, or a client could be told it lost messages that
		// were never sent.
		st := s.channels.get(channel, now, max(b.metaTTL(opts.Stream.MetaTTL), opts.Stream.TTL))
		pos = s.channels.append(st, pub, now, opts.Stream)
		s.channels.schedule(st)
	} else {
		pub.Offset = 0
	}
	if ik.key != "" {
		ttl := opts.IdempotencyTTL
		if ttl <= 0 {
			ttl = b.opts.IdempotencyTTL
		}
		s.idem.add(ik, pos, now+int64(ttl))
	}
	if _, ok := s.subscribed[channel]; ok {
		if h := b.h(); h != nil {
			h.HandlePublication(channel, pub, pos)
		}
	}
	return pos, false, nil
}

// PublishJoin delivers a join to this node if it subscribed to the channel,
// in order with the channel's publications.
func (b *Broker) PublishJoin(_ context.Context, channel string, info *broker.ClientInfo) error {
	return b.presenceEvent(channel, func(h broker.Handler) { h.HandleJoin(channel, info) })
}

// PublishLeave delivers a leave, as PublishJoin.
func (b *Broker) PublishLeave(_ context.Context, channel string, info *broker.ClientInfo) error {
	return b.presenceEvent(channel, func(h broker.Handler) { h.HandleLeave(channel, info) })
}

func (b *Broker) presenceEvent(channel string, deliver func(broker.Handler)) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subscribed[channel]; ok {
		if h := b.h(); h != nil {
			deliver(h)
		}
	}
	return nil
}

// PublishControl calls the handler's HandleControl synchronously, holding no
// lock: control commands act on connections and may call back into the
// broker.
func (b *Broker) PublishControl(_ context.Context, data []byte) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if h := b.h(); h != nil {
		h.HandleControl(data)
	}
	return nil
}
