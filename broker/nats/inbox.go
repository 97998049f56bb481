package nats

import (
	"context"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/broker"
)

// Send appends pub to the user's inbox when opts keeps history and
// publishes it on the direct subject, which every node receives. pub's
// Offset is set, and its Time when zero.
func (b *Broker) Send(ctx context.Context, user string, pub *broker.Publication, opts broker.StreamOptions) (broker.StreamPosition, error) {
	if err := b.check(); err != nil {
		return broker.StreamPosition{}, err
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	if pub.Time == 0 {
		pub.Time = time.Now().UnixMilli()
	}
	if !opts.Keeps() {
		pub.Offset = 0
		r := &record{kind: kindDirect, user: user, time: pub.Time, info: pub.Info, data: pub.Data}
		return broker.StreamPosition{}, b.nc.Publish(b.subj.direct(), r.encode())
	}
	r, err := b.appendLog(ctx, b.subj.inboxLog(user), pub, opts, func(r *record) {
		d := *r
		d.kind, d.user = kindDirect, user
		if err := b.nc.Publish(b.subj.direct(), d.encode()); err != nil {
			b.opts.Logger.Warn("nats: publish direct", "err", err)
		}
	})
	if err != nil {
		return broker.StreamPosition{}, err
	}
	pub.Offset = r.offset
	return r.position(), nil
}

// InboxHistory reads a user's inbox as History reads a channel.
func (b *Broker) InboxHistory(ctx context.Context, user string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	return b.readLog(ctx, b.subj.inboxLog(user), opts)
}

// directSet orders direct messages per user. Every node receives every
// user's messages without subscribing, so there is no baseline to start
// from: a user's orderer takes the first message it sees and is dropped
// once idle for directIdle.
type directSet struct {
	b      *Broker
	mu     sync.Mutex
	closed bool
	m      map[string]*orderer
}

// directIdle is how long an idle user's orderer is kept.
const directIdle = time.Minute

func (d *directSet) init(b *Broker) {
	d.b = b
	d.m = make(map[string]*orderer)
}

func (d *directSet) get(user string) *orderer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	o := d.m[user]
	if o == nil {
		b := d.b
		o = newOrderer(b, b.subj.inboxLog(user), func(r *record) {
			if h := b.h(); h != nil {
				h.HandleDirect(user, r.publication(), r.position())
			}
		})
		o.ready = true // next 0: take the first message as it comes
		d.m[user] = o
	}
	return o
}

// evict drops orderers idle since before.
func (d *directSet) evict(before time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for user, o := range d.m {
		if o.idle(before) {
			o.close()
			delete(d.m, user)
		}
	}
}

func (d *directSet) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, o := range d.m {
		o.close()
	}
	d.m = nil
}

func (b *Broker) onDirect(m *natsgo.Msg) {
	r, err := decodeRecord(m.Data)
	if err != nil || r.kind != kindDirect {
		b.opts.Logger.Warn("nats: malformed direct message", "err", err)
		return
	}
	if o := b.directs.get(r.user); o != nil {
		o.push(r)
	}
}
