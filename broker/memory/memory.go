// Package memory is Herald's embedded broker: pub/sub, history streams,
// presence and inboxes inside one process, for a single node. It needs no
// infrastructure and is what `herald serve` runs on by default.
//
// State is split over 64 shards by channel (and by user for inboxes), each
// with its own mutex; publishing on different channels never contends on one
// lock. A channel's publications are delivered to the Handler while its
// shard lock is held, which is what makes delivery order equal offset order.
//
// History lives as long as the process: a restart starts every stream over
// with a new epoch, so clients see recovered: false, as the protocol asks.
package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/broker"
)

const numShards = 64

// Options tunes a Broker. Zero values take the defaults in each comment.
type Options struct {
	// MetaTTL is how long a stream's position outlives its last publication
	// when the publish does not say. Default 24h.
	MetaTTL time.Duration
	// SweepInterval is how often expired entries are removed. Default 1s.
	SweepInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Broker is an in-process broker. Create it with New; it is safe for
// concurrent use. Publications handed to Publish and Send are kept as they
// are: callers must not modify them afterwards.
type Broker struct {
	opts     Options
	seed     maphash.Seed
	handler  atomic.Pointer[handlerBox]
	channels [numShards]channelShard
	inboxes  [numShards]inboxShard
	closed   atomic.Bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

type handlerBox struct{ h broker.Handler }

type channelShard struct {
	mu         sync.Mutex
	subscribed map[string]struct{}
	streams    map[string]*stream
	presence   map[string]map[string]presenceEntry
	idem       map[idemKey]idemEntry
}

type inboxShard struct {
	mu      sync.Mutex
	streams map[string]*stream
}

type presenceEntry struct {
	info    *broker.ClientInfo
	expires time.Time
}

type idemKey struct{ channel, key string }

type idemEntry struct {
	pos     broker.StreamPosition
	expires time.Time
}

var _ broker.Broker = (*Broker)(nil)

// New returns a running broker; Close stops it.
func New(opts Options) *Broker {
	if opts.MetaTTL <= 0 {
		opts.MetaTTL = 24 * time.Hour
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Broker{opts: opts, seed: maphash.MakeSeed(), stop: make(chan struct{})}
	for i := range b.channels {
		b.channels[i] = channelShard{
			subscribed: make(map[string]struct{}),
			streams:    make(map[string]*stream),
			presence:   make(map[string]map[string]presenceEntry),
			idem:       make(map[idemKey]idemEntry),
		}
		b.inboxes[i].streams = make(map[string]*stream)
	}
	b.wg.Add(1)
	go b.sweep()
	return b
}

func (b *Broker) shard(channel string) *channelShard {
	return &b.channels[maphash.String(b.seed, channel)%numShards]
}

func (b *Broker) inboxShard(user string) *inboxShard {
	return &b.inboxes[maphash.String(b.seed, user)%numShards]
}

func (b *Broker) h() broker.Handler {
	if box := b.handler.Load(); box != nil {
		return box.h
	}
	return nil
}

// Run sets the handler that receives deliveries. Calling it again replaces
// the handler: a server restarted in the same process keeps its broker.
func (b *Broker) Run(_ context.Context, h broker.Handler) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	b.handler.Store(&handlerBox{h})
	return nil
}

// Close stops the sweeper; later calls fail with broker.ErrClosed.
func (b *Broker) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		close(b.stop)
		b.wg.Wait()
	}
	return nil
}

// Ping reports whether the broker is open.
func (b *Broker) Ping(context.Context) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	return nil
}

// Subscribe makes this node receive the channel's deliveries.
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

// Unsubscribe stops the channel's deliveries.
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

func (b *Broker) metaTTL(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return b.opts.MetaTTL
}

// stream returns the channel's live stream, creating it (with a new epoch)
// when absent or forgotten. Called with the shard's lock held.
func (b *Broker) stream(streams map[string]*stream, name string, now time.Time, metaTTL time.Duration) *stream {
	st := streams[name]
	if st == nil || now.After(st.metaExp) {
		st = newStream()
		streams[name] = st
	}
	if exp := now.Add(b.metaTTL(metaTTL)); exp.After(st.metaExp) {
		st.metaExp = exp
	}
	st.trimExpired(now.UnixMilli())
	return st
}

// Publish appends to the channel's stream and delivers, under one lock.
func (b *Broker) Publish(_ context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	if b.closed.Load() {
		return broker.StreamPosition{}, false, broker.ErrClosed
	}
	now := b.opts.Now()
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	ik := idemKey{channel, opts.IdempotencyKey}
	if opts.IdempotencyKey != "" {
		if e, ok := s.idem[ik]; ok && now.Before(e.expires) {
			return e.pos, true, nil
		}
	}
	if pub.Time == 0 {
		pub.Time = now.UnixMilli()
	}
	var pos broker.StreamPosition
	if opts.Stream.Keeps() {
		st := b.stream(s.streams, channel, now, max(opts.Stream.MetaTTL, opts.Stream.TTL))
		st.append(pub, opts.Stream.Size, opts.Stream.TTL)
		pos = st.position()
	} else {
		pub.Offset = 0
	}
	if opts.IdempotencyKey != "" && opts.IdempotencyTTL > 0 {
		s.idem[ik] = idemEntry{pos: pos, expires: now.Add(opts.IdempotencyTTL)}
	}
	if _, ok := s.subscribed[channel]; ok {
		if h := b.h(); h != nil {
			h.HandlePublication(channel, pub, pos)
		}
	}
	return pos, false, nil
}

// PublishJoin delivers a join to this node if it subscribed to the channel.
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

// PublishControl delivers data to the handler, synchronously and without
// holding any lock: control handlers call back into the broker.
func (b *Broker) PublishControl(_ context.Context, data []byte) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if h := b.h(); h != nil {
		h.HandleControl(data)
	}
	return nil
}

// History reads a channel's stream.
func (b *Broker) History(_ context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if b.closed.Load() {
		return nil, broker.StreamPosition{}, broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := b.stream(s.streams, channel, b.opts.Now(), opts.MetaTTL)
	pubs, err := st.read(opts)
	return pubs, st.position(), err
}

// RemoveHistory forgets a channel's stream; the next one has a new epoch.
func (b *Broker) RemoveHistory(_ context.Context, channel string) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	delete(s.streams, channel)
	s.mu.Unlock()
	return nil
}

// AddPresence adds or refreshes a client's entry.
func (b *Broker) AddPresence(_ context.Context, channel string, info *broker.ClientInfo, ttl time.Duration) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.presence[channel]
	if m == nil {
		m = make(map[string]presenceEntry)
		s.presence[channel] = m
	}
	m[info.Client] = presenceEntry{info: info, expires: b.opts.Now().Add(ttl)}
	return nil
}

// RemovePresence removes a client's entry.
func (b *Broker) RemovePresence(_ context.Context, channel, client string) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.presence[channel]; m != nil {
		delete(m, client)
		if len(m) == 0 {
			delete(s.presence, channel)
		}
	}
	return nil
}

// Presence returns the live entries by client id.
func (b *Broker) Presence(_ context.Context, channel string) (map[string]*broker.ClientInfo, error) {
	if b.closed.Load() {
		return nil, broker.ErrClosed
	}
	now := b.opts.Now()
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*broker.ClientInfo)
	for id, e := range s.presence[channel] {
		if now.Before(e.expires) {
			out[id] = e.info
		}
	}
	return out, nil
}

// PresenceStats counts the live entries and their distinct users.
func (b *Broker) PresenceStats(ctx context.Context, channel string) (broker.PresenceStats, error) {
	entries, err := b.Presence(ctx, channel)
	if err != nil {
		return broker.PresenceStats{}, err
	}
	users := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		users[e.User] = struct{}{}
	}
	return broker.PresenceStats{Clients: len(entries), Users: len(users)}, nil
}

// Send appends to the user's inbox and delivers to the handler.
func (b *Broker) Send(_ context.Context, user string, pub *broker.Publication, opts broker.StreamOptions) (broker.StreamPosition, error) {
	if b.closed.Load() {
		return broker.StreamPosition{}, broker.ErrClosed
	}
	now := b.opts.Now()
	s := b.inboxShard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if pub.Time == 0 {
		pub.Time = now.UnixMilli()
	}
	var pos broker.StreamPosition
	if opts.Keeps() {
		st := b.stream(s.streams, user, now, max(opts.MetaTTL, opts.TTL))
		st.append(pub, opts.Size, opts.TTL)
		pos = st.position()
	} else {
		pub.Offset = 0
	}
	if h := b.h(); h != nil {
		h.HandleDirect(user, pub, pos)
	}
	return pos, nil
}

// InboxHistory reads a user's inbox.
func (b *Broker) InboxHistory(_ context.Context, user string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if b.closed.Load() {
		return nil, broker.StreamPosition{}, broker.ErrClosed
	}
	s := b.inboxShard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := b.stream(s.streams, user, b.opts.Now(), opts.MetaTTL)
	pubs, err := st.read(opts)
	return pubs, st.position(), err
}

// sweep removes what has expired, so memory stays bounded by what is live.
func (b *Broker) sweep() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		now := b.opts.Now()
		for i := range b.channels {
			s := &b.channels[i]
			s.mu.Lock()
			sweepStreams(s.streams, now)
			for ch, m := range s.presence {
				for id, e := range m {
					if !now.Before(e.expires) {
						delete(m, id)
					}
				}
				if len(m) == 0 {
					delete(s.presence, ch)
				}
			}
			for k, e := range s.idem {
				if !now.Before(e.expires) {
					delete(s.idem, k)
				}
			}
			s.mu.Unlock()
		}
		for i := range b.inboxes {
			s := &b.inboxes[i]
			s.mu.Lock()
			sweepStreams(s.streams, now)
			s.mu.Unlock()
		}
	}
}

func sweepStreams(streams map[string]*stream, now time.Time) {
	ms := now.UnixMilli()
	for name, st := range streams {
		if now.After(st.metaExp) {
			delete(streams, name)
			continue
		}
		st.trimExpired(ms)
	}
}
