package nats

import (
	"context"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/broker"
)

// channelSub is this node's subscription to a channel.
type channelSub struct {
	channel string
	sub     *natsgo.Subscription
	order   *orderer
	// presenceDue is when the sweeper next lists the channel's presence
	// (unix ns); 0 means at the next sweep. Guarded by the broker's subsMu.
	presenceDue int64
}

func (s *channelSub) close() {
	_ = s.sub.Unsubscribe()
	s.order.close()
}

// Subscribe makes this node receive the channel's publications and
// presence events. Once the server has the subscription, the channel's
// position is read: publications after it are delivered in offset order
// with no gap the stream could fill; earlier ones are the History reader's.
func (b *Broker) Subscribe(ctx context.Context, channel string) error {
	if err := b.check(); err != nil {
		return err
	}
	b.subsMu.Lock()
	if _, ok := b.subs[channel]; ok {
		b.subsMu.Unlock()
		return nil
	}
	s := &channelSub{channel: channel}
	s.order = newOrderer(b, b.subj.channelLog(channel), func(r *record) {
		if h := b.h(); h != nil {
			h.HandlePublication(channel, r.publication(), r.position())
		}
	})
	sub, err := b.nc.Subscribe(b.subj.live(channel), func(m *natsgo.Msg) { b.onLive(s, m) })
	if err != nil {
		b.subsMu.Unlock()
		return err
	}
	s.sub = sub
	b.subs[channel] = s
	b.subsMu.Unlock()

	ctx, cancel := b.timeout(ctx)
	defer cancel()
	err = b.nc.FlushWithContext(ctx)
	var top *stored
	if err == nil {
		top, err = b.head(ctx, b.subj.channelLog(channel))
	}
	if err != nil {
		b.dropSub(s)
		return err
	}
	if top == nil || top.expired(time.Now()) {
		s.order.start("", 1)
	} else {
		s.order.start(top.rec.epoch, top.rec.offset+1)
	}
	return nil
}

// Unsubscribe stops the channel's deliveries. Once it returns, none is in
// progress or will start.
func (b *Broker) Unsubscribe(_ context.Context, channel string) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	b.subsMu.Lock()
	s := b.subs[channel]
	b.subsMu.Unlock()
	if s != nil {
		b.dropSub(s)
	}
	return nil
}

func (b *Broker) dropSub(s *channelSub) {
	b.subsMu.Lock()
	if b.subs[s.channel] == s {
		delete(b.subs, s.channel)
	}
	b.subsMu.Unlock()
	s.close()
}

// onLive handles a message on a channel's live subject.
func (b *Broker) onLive(s *channelSub, m *natsgo.Msg) {
	r, err := decodeRecord(m.Data)
	if err != nil {
		b.opts.Logger.Warn("nats: malformed live message", "channel", s.channel, "err", err)
		return
	}
	h := b.h()
	switch r.kind {
	case kindPub:
		s.order.push(r)
	case kindJoin:
		b.presenceSeen(s)
		s.order.event(func() {
			if h != nil {
				h.HandleJoin(s.channel, r.info)
			}
		})
	case kindLeave:
		s.order.event(func() {
			if h != nil {
				h.HandleLeave(s.channel, r.info)
			}
		})
	}
}

// Publish appends pub to the channel's stream when opts.Stream keeps
// history and publishes it live to subscribed nodes. The append is a
// compare-and-set on the stream, so offsets never skip or repeat across
// nodes; subscribers order what they receive (see orderer). pub's Offset
// is set, and its Time when zero.
func (b *Broker) Publish(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	if err := b.check(); err != nil {
		return broker.StreamPosition{}, false, err
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	if pub.Time == 0 {
		pub.Time = time.Now().UnixMilli()
	}
	if opts.IdempotencyKey != "" {
		return b.publishOnce(ctx, channel, pub, opts)
	}
	pos, err := b.publish(ctx, channel, pub, opts.Stream)
	return pos, false, err
}

func (b *Broker) publish(ctx context.Context, channel string, pub *broker.Publication, so broker.StreamOptions) (broker.StreamPosition, error) {
	live := b.subj.live(channel)
	if !so.Keeps() {
		pub.Offset = 0
		r := &record{kind: kindPub, time: pub.Time, info: pub.Info, data: pub.Data}
		return broker.StreamPosition{}, b.nc.Publish(live, r.encode())
	}
	r, err := b.appendLog(ctx, b.subj.channelLog(channel), pub, so, func(r *record) {
		if b.skipLive != nil && b.skipLive(channel) {
			return
		}
		// Stored already: if this fails, subscribers read it from the
		// stream when the next one arrives.
		if err := b.nc.Publish(live, r.encode()); err != nil {
			b.opts.Logger.Warn("nats: publish live", "channel", channel, "err", err)
		}
	})
	if err != nil {
		return broker.StreamPosition{}, err
	}
	pub.Offset = r.offset
	return r.position(), nil
}

// PublishJoin delivers a join to the channel's subscribed nodes.
func (b *Broker) PublishJoin(_ context.Context, channel string, info *broker.ClientInfo) error {
	return b.presenceEvent(channel, kindJoin, info)
}

// PublishLeave delivers a leave to the channel's subscribed nodes.
func (b *Broker) PublishLeave(_ context.Context, channel string, info *broker.ClientInfo) error {
	return b.presenceEvent(channel, kindLeave, info)
}

func (b *Broker) presenceEvent(channel string, kind byte, info *broker.ClientInfo) error {
	if err := b.check(); err != nil {
		return err
	}
	r := &record{kind: kind, info: info}
	return b.nc.Publish(b.subj.live(channel), r.encode())
}
