// Package memory is Herald's embedded broker: pub/sub, history streams,
// presence and inboxes inside one process, for a single node. It needs no
// infrastructure and is what `herald serve` runs on by default.
//
// State is split over 64 shards by channel (and by user for inboxes), each
// with its own mutex, so publishing on different channels rarely contends on
// one lock. A channel's publications are delivered to the Handler while its
// shard lock is held: that is what makes delivery order equal offset order,
// and it is why the Handler must never block or call back into the broker.
//
// History lives as long as the process: a restart starts every stream over
// with a new epoch, so clients see recovered: false, as the protocol asks.
//
// What streams hold is capped (Options.MaxRetainedBytes and MaxStreams):
// past a cap the broker evicts whole streams, the least recently appended
// to first, and an evicted stream is forgotten like a removed one: the next
// read or publish starts it over with a new epoch, so a client that was
// behind in it is told it cannot recover rather than shown a gap.
//
// Publications handed to Publish and Send are stored and delivered as they
// are, without copying: the broker sets their Offset (and Time when zero), and
// from then on they are shared by history readers and the Handler, so callers
// must not modify them, Data included.
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

// sweepBatch bounds how much expired state the sweeper frees per lock hold,
// so a mass expiry never stalls publishing on a shard for long.
const sweepBatch = 256

// Options tunes a Broker. Every zero value means the default in its comment.
type Options struct {
	// MetaTTL is how long a stream's position (offset and epoch) outlives its
	// last publication or read when StreamOptions.MetaTTL or
	// HistoryOptions.MetaTTL is zero. Default 24h, so that a client offline
	// for a day can still be told exactly whether it missed anything.
	MetaTTL time.Duration
	// IdempotencyTTL is how long an idempotency key is remembered when
	// PublishOptions.IdempotencyTTL is zero. Default 5m, the protocol's.
	IdempotencyTTL time.Duration
	// SweepInterval is how often expired publications, streams, presence
	// entries and idempotency keys are freed. Reads never see expired state
	// whatever the interval; it only bounds memory. Default 1s.
	SweepInterval time.Duration
	// MaxRetainedBytes caps the publications all streams (channels and
	// inboxes) retain, counting each one's data and 96 bytes of
	// bookkeeping. Past it the streams appended to least recently are
	// evicted until the total is under the cap again. Default 1 GiB; -1:
	// no cap.
	MaxRetainedBytes int64
	// MaxStreams caps the streams (channels' and inboxes' positions, with
	// or without publications) held at once, evicting as MaxRetainedBytes
	// does. Default 1,000,000; -1: no cap.
	MaxStreams int64
	// Now is the clock, replaceable so tests can expire state without
	// sleeping. Default time.Now.
	Now func() time.Time
}

// Broker is an in-process broker.Broker. Create it with New; it is safe for
// concurrent use.
type Broker struct {
	opts    Options
	seed    maphash.Seed
	handler atomic.Pointer[handlerBox]
	closed  atomic.Bool
	shards  [numShards]shard
	stop    chan struct{}
	done    chan struct{}
	use     usage
	evicted atomic.Int64
}

var (
	_ broker.Broker = (*Broker)(nil)
	_ broker.Pinger = (*Broker)(nil)
)

// handlerBox lets the handler be swapped atomically; an interface value
// cannot be stored in an atomic.Pointer directly.
type handlerBox struct{ h broker.Handler }

// shard holds everything keyed by the names that hash to it. One mutex
// guards it all so that a publish (idempotency check, append, delivery) is a
// single critical section.
type shard struct {
	mu         sync.Mutex
	subscribed map[string]struct{}
	channels   streamSet
	inboxes    streamSet
	presence   presenceSet
	idem       idemSet
}

// New returns a running broker; Close stops it.
func New(opts Options) *Broker {
	if opts.MetaTTL <= 0 {
		opts.MetaTTL = 24 * time.Hour
	}
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = 5 * time.Minute
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxRetainedBytes == 0 {
		opts.MaxRetainedBytes = 1 << 30
	}
	if opts.MaxStreams == 0 {
		opts.MaxStreams = 1_000_000
	}
	b := &Broker{
		opts: opts,
		seed: maphash.MakeSeed(),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for i := range b.shards {
		s := &b.shards[i]
		s.subscribed = make(map[string]struct{})
		s.channels.init(&b.use)
		s.inboxes.init(&b.use)
		s.presence.init()
		s.idem.init()
	}
	go b.sweepLoop()
	return b
}

func (b *Broker) shard(name string) *shard {
	return &b.shards[maphash.String(b.seed, name)%numShards]
}

// now is the clock in unix nanoseconds, the unit of every deadline kept.
func (b *Broker) now() int64 { return b.opts.Now().UnixNano() }

func (b *Broker) h() broker.Handler {
	if box := b.handler.Load(); box != nil {
		return box.h
	}
	return nil
}

// metaTTL resolves a per-call MetaTTL against the broker's default.
func (b *Broker) metaTTL(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return b.opts.MetaTTL
}

// Run sets the handler that receives deliveries. Calling it again replaces
// the handler: a server restarted in the same process keeps its broker and
// its history.
func (b *Broker) Run(_ context.Context, h broker.Handler) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	b.handler.Store(&handlerBox{h})
	return nil
}

// Close stops the sweeper; every later call fails with broker.ErrClosed.
// Closing twice is harmless.
func (b *Broker) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		close(b.stop)
		<-b.done
	}
	return nil
}

// Ping reports whether the broker is open; there is no engine to lose.
func (b *Broker) Ping(context.Context) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	return nil
}
