package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/outage"
)

// ErrDisconnected is returned, at once, by calls made while the broker's
// connection to NATS is down; nats.go keeps trying to reconnect.
var ErrDisconnected = errors.New("nats: not connected to NATS")

// Broker is a broker.Broker on NATS and JetStream. Create it with New; it
// is safe for concurrent use.
type Broker struct {
	opts Options
	subj subjects
	nc   *natsgo.Conn
	js   jetstream.JetStream
	// streams are the handles of the JetStream streams, replaced when
	// they are created again after NATS lost them.
	streams atomic.Pointer[streamSet]

	// sweepLog reports the presence sweep's failures once per outage.
	sweepLog *outage.Log

	handler atomic.Pointer[handlerBox]
	closed  atomic.Bool

	runMu   sync.Mutex
	running bool
	// initMu is held by New while it makes the streams, so that
	// onConnect knows whether it has to.
	initMu sync.Mutex
	// gate is held for reading while control messages are delivered, so
	// that none is in progress once Close has taken it.
	gate sync.RWMutex

	subsMu sync.Mutex
	subs   map[string]*channelSub

	directs directSet
	writers writerTable

	// Background goroutines: spawn refuses new ones once stopping is set,
	// so that Close can wait for the rest.
	goMu     sync.Mutex
	stopping bool
	stop     chan struct{}
	wg       sync.WaitGroup
	// bg is cancelled by Close, ending background requests.
	bg       context.Context
	bgCancel context.CancelFunc
	trims    chan trimRequest

	// historyReads counts the history messages reads fetched from
	// JetStream, so that tests can tell what a read cost.
	historyReads atomic.Int64

	// skipLive, set by tests only, makes Publish append without publishing
	// live, as a publisher that died in between would.
	skipLive func(channel string) bool
}

var (
	_ broker.Broker = (*Broker)(nil)
	_ broker.Pinger = (*Broker)(nil)
)

type handlerBox struct{ h broker.Handler }

// New connects to NATS, creates the broker's streams if needed, and
// returns a running broker; Close stops it. If NATS is unreachable it
// returns a broker that keeps trying, whose calls fail with
// ErrDisconnected until it is connected and has made its streams; it
// fails only on invalid options or when the connected server refuses the
// streams.
func New(opts Options) (*Broker, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Broker{
		opts:  opts,
		subj:  newSubjects(opts.Prefix),
		subs:  make(map[string]*channelSub),
		stop:  make(chan struct{}),
		trims: make(chan trimRequest, 1024),
	}
	b.sweepLog = outage.New(opts.Logger, "nats: presence sweep")
	b.bg, b.bgCancel = context.WithCancel(context.Background())
	b.directs.init(b)
	b.writers.init()
	connOpts := []natsgo.Option{
		natsgo.Name(opts.Name),
		natsgo.Timeout(opts.Timeout),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(opts.ReconnectWait),
		// Fail publishes and requests at once while reconnecting instead
		// of buffering them: callers get an error they can act on, and
		// readiness checks see the outage.
		natsgo.ReconnectBufSize(-1),
		natsgo.PingInterval(5 * time.Second),
		// A node may start before its NATS: it serves, answers what needs
		// NATS with an error and connects when NATS is there, as it does
		// after losing NATS later.
		natsgo.RetryOnFailedConnect(true),
	}
	connOpts = append(connOpts, opts.ConnOptions...)
	connOpts = append(connOpts,
		natsgo.DisconnectErrHandler(b.onDisconnect),
		natsgo.ReconnectHandler(b.onReconnect),
		natsgo.ConnectHandler(b.onConnect),
	)
	b.initMu.Lock()
	defer b.initMu.Unlock()
	b.nc, err = natsgo.Connect(opts.URL, connOpts...)
	if err != nil {
		b.bgCancel()
		return nil, fmt.Errorf("nats: connect to %s: %w", opts.URL, err)
	}
	b.js, err = jetstream.New(b.nc)
	if err == nil && b.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), streamSetupTime(opts))
		err = b.ensureStreams(ctx)
		cancel()
	} else if err == nil {
		// The streams are made on connecting (onReconnect); until then
		// every call fails with ErrDisconnected.
		opts.Logger.Warn("nats: not connected yet, retrying in the background", "url", opts.URL, "err", b.nc.LastError())
	}
	if err != nil {
		b.closed.Store(true)
		b.bgCancel()
		b.nc.Close()
		return nil, err
	}
	b.spawn(b.sweepLoop)
	b.spawn(b.trimLoop)
	return b, nil
}

func (b *Broker) h() broker.Handler {
	if box := b.handler.Load(); box != nil {
		return box.h
	}
	return nil
}

// check reports ErrClosed after Close and ErrDisconnected while NATS is
// unreachable (or, for a broker started without NATS, until its streams
// are made), so that calls fail fast instead of waiting out a timeout.
func (b *Broker) check() error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if !b.nc.IsConnected() || b.st() == nil {
		return ErrDisconnected
	}
	return nil
}

// timeout bounds ctx by Options.Timeout.
func (b *Broker) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.opts.Timeout)
}

// spawn runs fn on a goroutine Close waits for, unless the broker is
// stopping.
func (b *Broker) spawn(fn func()) bool {
	b.goMu.Lock()
	defer b.goMu.Unlock()
	if b.stopping {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// Run sets the handler and subscribes this node to direct and control
// messages. A second Run replaces the handler.
func (b *Broker) Run(ctx context.Context, h broker.Handler) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	b.handler.Store(&handlerBox{h})
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if b.running {
		return nil
	}
	if _, err := b.nc.Subscribe(b.subj.direct(), b.onDirect); err != nil {
		return err
	}
	if _, err := b.nc.Subscribe(b.subj.control(), b.onControl); err != nil {
		return err
	}
	b.running = true
	if !b.nc.IsConnected() {
		return nil // subscribed on connecting
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	// Once the server has the subscriptions, every later control message
	// reaches this node.
	return b.nc.FlushWithContext(ctx)
}

// PublishControl sends data to every node's HandleControl, this one's
// included.
func (b *Broker) PublishControl(_ context.Context, data []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	return b.nc.Publish(b.subj.control(), data)
}

func (b *Broker) onControl(m *natsgo.Msg) {
	b.gate.RLock()
	defer b.gate.RUnlock()
	if b.closed.Load() {
		return
	}
	if h := b.h(); h != nil {
		h.HandleControl(m.Data)
	}
}

// Ping reports whether NATS and its JetStream answer.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.check(); err != nil {
		return err
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	_, err := b.js.AccountInfo(ctx)
	return err
}

// onConnect runs when the first connection is made, at once or, for a
// broker created while NATS was unreachable, later: then it makes the
// streams and tells the handler, as after a reconnect.
func (b *Broker) onConnect(nc *natsgo.Conn) {
	b.initMu.Lock()
	made := b.st() != nil
	b.initMu.Unlock()
	if !made && !b.closed.Load() {
		b.onReconnect(nc)
	}
}

func (b *Broker) onDisconnect(_ *natsgo.Conn, err error) {
	if !b.closed.Load() {
		b.opts.Logger.Warn("nats: connection lost", "err", err)
	}
}

// onReconnect runs when nats.go is connected again and has sent the
// subscriptions anew, or connected for the first time after New found NATS
// unreachable. Once the server has them (a flush) and the streams exist
// (the server may have lost its store), the handler is told, so that it
// checks its subscribers against the streams.
func (b *Broker) onReconnect(nc *natsgo.Conn) {
	b.opts.Logger.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted())
	b.spawn(func() {
		if !b.streamsAfterReconnect(nc) {
			return // lost again; the next reconnect tries again
		}
		b.writers.forget()
		if h := b.h(); h != nil && !b.closed.Load() {
			h.HandleReconnect()
		}
	})
}

// streamsAfterReconnect waits for the server to have the subscriptions and
// makes the streams. A broker that has none yet (started without NATS) is
// unusable without them: it keeps trying while connected. It reports
// whether the handler may be told.
func (b *Broker) streamsAfterReconnect(nc *natsgo.Conn) bool {
	ctx, cancel := context.WithTimeout(b.bg, b.opts.Timeout)
	err := nc.FlushWithContext(ctx)
	cancel()
	if err != nil {
		b.opts.Logger.Warn("nats: flush after reconnect", "err", err)
		return false
	}
	for {
		ctx, cancel := context.WithTimeout(b.bg, streamSetupTime(b.opts))
		err := b.ensureStreams(ctx)
		cancel()
		if err == nil {
			return true
		}
		b.opts.Logger.Warn("nats: streams after reconnect", "err", err)
		if b.st() != nil {
			return true // the old handles serve until the next reconnect
		}
		select {
		case <-b.stop:
			return false
		case <-time.After(b.opts.ReconnectWait):
		}
		if !nc.IsConnected() {
			return false
		}
	}
}

// streamSetupTime bounds making the streams on connecting: long enough
// for a cluster that starts with this node to elect the leaders that
// answer, ten requests' timeouts but at least 30 seconds.
func streamSetupTime(o Options) time.Duration {
	return max(10*o.Timeout, 30*time.Second)
}

// Close stops deliveries and background work and closes the connection.
// Every later call fails with broker.ErrClosed. Closing twice is harmless.
func (b *Broker) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	b.goMu.Lock()
	b.stopping = true
	close(b.stop)
	b.goMu.Unlock()

	b.subsMu.Lock()
	subs := b.subs
	b.subs = make(map[string]*channelSub)
	b.subsMu.Unlock()
	for _, s := range subs {
		s.close()
	}
	b.directs.close()
	// A barrier: onControl checks closed under the read lock, so once the
	// write lock is taken no control delivery is in progress.
	b.gate.Lock()
	//lint:ignore SA2001 the empty critical section is the barrier
	b.gate.Unlock()
	b.bgCancel()
	b.wg.Wait()
	b.nc.Close()
	return nil
}
