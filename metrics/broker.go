package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/broker"
)

// The broker operations timed; opNames spells them as the "operation"
// label does.
const (
	opPublish = iota
	opSubscribe
	opUnsubscribe
	opPublishJoin
	opPublishLeave
	opPublishControl
	opHistory
	opRemoveHistory
	opAddPresence
	opRemovePresence
	opPresence
	opPresenceStats
	opSend
	opInboxHistory
	opPing
	numOps
)

var opNames = [numOps]string{
	opPublish:        "publish",
	opSubscribe:      "subscribe",
	opUnsubscribe:    "unsubscribe",
	opPublishJoin:    "publish_join",
	opPublishLeave:   "publish_leave",
	opPublishControl: "publish_control",
	opHistory:        "history",
	opRemoveHistory:  "remove_history",
	opAddPresence:    "add_presence",
	opRemovePresence: "remove_presence",
	opPresence:       "presence",
	opPresenceStats:  "presence_stats",
	opSend:           "send",
	opInboxHistory:   "inbox_history",
	opPing:           "ping",
}

// Broker is a broker.Broker that times every operation of the one it wraps
// and counts its failures. Create it with InstrumentBroker.
type Broker struct {
	b   broker.Broker
	ops [numOps]opMetrics
}

type opMetrics struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

var (
	_ broker.Broker = (*Broker)(nil)
	_ broker.Pinger = (*Broker)(nil)
)

// InstrumentBroker wraps b so that its operations feed
// herald_broker_operation_duration_seconds and herald_broker_errors_total,
// labelled engine (memory, redis, nats). Run and Close are not timed.
func (m *Metrics) InstrumentBroker(b broker.Broker, engine string) *Broker {
	w := &Broker{b: b}
	for i, op := range opNames {
		w.ops[i] = opMetrics{
			duration: m.brokerDuration.WithLabelValues(engine, op),
			errors:   m.brokerErrors.WithLabelValues(engine, op),
		}
	}
	return w
}

// Unwrap returns the wrapped broker.
func (w *Broker) Unwrap() broker.Broker { return w.b }

// done records one operation that started at start. ErrUnrecoverable is an
// answer (the client's position is gone), not a failure.
func (w *Broker) done(op int, start time.Time, err error) {
	w.ops[op].duration.Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, broker.ErrUnrecoverable) {
		w.ops[op].errors.Inc()
	}
}

// Run implements broker.PubSub.
func (w *Broker) Run(ctx context.Context, h broker.Handler) error { return w.b.Run(ctx, h) }

// Close implements broker.Broker.
func (w *Broker) Close() error { return w.b.Close() }

// Ping implements broker.Pinger; a broker without a remote engine is
// always reachable.
func (w *Broker) Ping(ctx context.Context) error {
	p, ok := w.b.(broker.Pinger)
	if !ok {
		return nil
	}
	start := time.Now()
	err := p.Ping(ctx)
	w.done(opPing, start, err)
	return err
}

// Subscribe implements broker.PubSub.
func (w *Broker) Subscribe(ctx context.Context, channel string) error {
	start := time.Now()
	err := w.b.Subscribe(ctx, channel)
	w.done(opSubscribe, start, err)
	return err
}

// Unsubscribe implements broker.PubSub.
func (w *Broker) Unsubscribe(ctx context.Context, channel string) error {
	start := time.Now()
	err := w.b.Unsubscribe(ctx, channel)
	w.done(opUnsubscribe, start, err)
	return err
}

// Publish implements broker.PubSub.
func (w *Broker) Publish(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	start := time.Now()
	pos, repeated, err := w.b.Publish(ctx, channel, pub, opts)
	w.done(opPublish, start, err)
	return pos, repeated, err
}

// PublishJoin implements broker.PubSub.
func (w *Broker) PublishJoin(ctx context.Context, channel string, info *broker.ClientInfo) error {
	start := time.Now()
	err := w.b.PublishJoin(ctx, channel, info)
	w.done(opPublishJoin, start, err)
	return err
}

// PublishLeave implements broker.PubSub.
func (w *Broker) PublishLeave(ctx context.Context, channel string, info *broker.ClientInfo) error {
	start := time.Now()
	err := w.b.PublishLeave(ctx, channel, info)
	w.done(opPublishLeave, start, err)
	return err
}

// PublishControl implements broker.PubSub.
func (w *Broker) PublishControl(ctx context.Context, data []byte) error {
	start := time.Now()
	err := w.b.PublishControl(ctx, data)
	w.done(opPublishControl, start, err)
	return err
}

// History implements broker.History.
func (w *Broker) History(ctx context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	start := time.Now()
	pubs, pos, err := w.b.History(ctx, channel, opts)
	w.done(opHistory, start, err)
	return pubs, pos, err
}

// RemoveHistory implements broker.History.
func (w *Broker) RemoveHistory(ctx context.Context, channel string) error {
	start := time.Now()
	err := w.b.RemoveHistory(ctx, channel)
	w.done(opRemoveHistory, start, err)
	return err
}

// AddPresence implements broker.Presence.
func (w *Broker) AddPresence(ctx context.Context, channel string, info *broker.ClientInfo, ttl time.Duration) error {
	start := time.Now()
	err := w.b.AddPresence(ctx, channel, info, ttl)
	w.done(opAddPresence, start, err)
	return err
}

// RemovePresence implements broker.Presence.
func (w *Broker) RemovePresence(ctx context.Context, channel string, info *broker.ClientInfo, announce bool) error {
	start := time.Now()
	err := w.b.RemovePresence(ctx, channel, info, announce)
	w.done(opRemovePresence, start, err)
	return err
}

// Presence implements broker.Presence.
func (w *Broker) Presence(ctx context.Context, channel string) (map[string]*broker.ClientInfo, error) {
	start := time.Now()
	p, err := w.b.Presence(ctx, channel)
	w.done(opPresence, start, err)
	return p, err
}

// PresenceStats implements broker.Presence.
func (w *Broker) PresenceStats(ctx context.Context, channel string) (broker.PresenceStats, error) {
	start := time.Now()
	st, err := w.b.PresenceStats(ctx, channel)
	w.done(opPresenceStats, start, err)
	return st, err
}

// Send implements broker.Inbox.
func (w *Broker) Send(ctx context.Context, user string, pub *broker.Publication, opts broker.StreamOptions) (broker.StreamPosition, error) {
	start := time.Now()
	pos, err := w.b.Send(ctx, user, pub, opts)
	w.done(opSend, start, err)
	return pos, err
}

// InboxHistory implements broker.Inbox.
func (w *Broker) InboxHistory(ctx context.Context, user string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	start := time.Now()
	pubs, pos, err := w.b.InboxHistory(ctx, user, opts)
	w.done(opInboxHistory, start, err)
	return pubs, pos, err
}
