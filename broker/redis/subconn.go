package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/broker"
)

// What a pub/sub channel delivers.
const (
	kindChannel = iota // a Herald channel's publications, joins and leaves
	kindControl        // control messages
	kindDirect         // direct messages
)

// target is what one Redis pub/sub channel carries for this node.
type target struct {
	kind    int
	channel string // the Herald channel, for kindChannel
}

// Payloads of the PINGs a reader recognises in its replies; barriers use
// "b<n>".
const (
	pingReady  = "ready"  // behind a (re)connection's subscriptions
	pingHealth = "health" // keeps an idle connection proven alive
)

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

var errConnLost = errors.New("redis: pub/sub connection lost")

// subConn is one pub/sub connection carrying a set of subscriptions, kept
// alive across outages. One goroutine (run) dials it, subscribes to
// everything in subs, reads it and hands messages to the Handler; when the
// connection fails it starts over on a new one.
//
// Lock order: mu → subsMu. Network writes happen under mu, so that a
// reconnection's snapshot of subs and concurrent (un)subscribes are ordered.
type subConn struct {
	b       *Broker
	name    string // the server, for logs
	client  redis.UniversalClient
	open    func(context.Context) *redis.PubSub
	sharded bool // SSUBSCRIBE instead of SUBSCRIBE

	subsMu sync.RWMutex
	subs   map[string]target // Redis channel → what it carries

	mu      sync.Mutex
	ps      *redis.PubSub // nil while down
	ready   bool          // ps is subscribed to everything in subs
	up      chan struct{} // closed when ready; replaced when the connection is lost
	waiters map[string]chan error
	seq     uint64

	// lastRead is when the reader last received anything (unix ns); the
	// health loop pings a quiet connection and gives up on a silent one.
	lastRead atomic.Int64
	// everReady is touched by the reader only: whether a connection was
	// ever subscribed, so that the next one is a recovery.
	everReady bool
	// down is set while the latest connection attempt failed; commands to
	// the server then fail at once with downErr (see circuit.go).
	down    atomic.Bool
	downErr error
}

func (b *Broker) newSubConn(name string, client redis.UniversalClient, sharded bool, open func(context.Context) *redis.PubSub) *subConn {
	return &subConn{
		b: b, name: name, client: client, open: open, sharded: sharded,
		subs:    make(map[string]target),
		up:      make(chan struct{}),
		waiters: make(map[string]chan error),
		downErr: newDownErr(name),
	}
}

// run keeps the connection up until ctx ends.
func (c *subConn) run(ctx context.Context) {
	defer c.b.wg.Done()
	log := c.b.opts.Logger
	backoff := minBackoff
	failing := false
	for {
		ps, err := c.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = c.read(ctx, ps)
			wasReady := c.lost(ps)
			if ctx.Err() != nil {
				return
			}
			if wasReady {
				failing, backoff = false, minBackoff
				log.Warn("redis broker: pub/sub connection lost, reconnecting", "server", c.name, "err", err)
				continue
			}
			// Connected but never subscribed: as good as unreachable.
			err = fmt.Errorf("connected, but no reply to the subscriptions: %w", err)
		}
		c.setDown(true)
		if !failing {
			log.Warn("redis broker: cannot subscribe, retrying", "server", c.name, "err", err)
			failing = true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// connect dials a connection and subscribes it to everything in subs,
// followed by the ready PING whose reply tells the reader it is all done.
func (c *subConn) connect(ctx context.Context) (*redis.PubSub, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, redialing{}, true), c.b.opts.Timeout)
	defer cancel()
	ps := c.open(ctx)
	c.subsMu.RLock()
	names := make([]string, 0, len(c.subs))
	for name := range c.subs {
		names = append(names, name)
	}
	c.subsMu.RUnlock()
	var err error
	if c.sharded {
		// Sharded channels of different slots cannot share a command.
		for _, name := range names {
			if err = ps.SSubscribe(ctx, name); err != nil {
				break
			}
		}
	} else {
		for len(names) > 0 && err == nil {
			n := min(len(names), 512)
			err = ps.Subscribe(ctx, names[:n]...)
			names = names[n:]
		}
	}
	if err == nil {
		err = ps.Ping(ctx, pingReady)
	}
	if err != nil {
		_ = ps.Close()
		return nil, err
	}
	c.ps = ps
	c.lastRead.Store(time.Now().UnixNano())
	return ps, nil
}

// read hands what arrives to the Handler until the connection fails.
func (c *subConn) read(ctx context.Context, ps *redis.PubSub) error {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return err
		}
		c.lastRead.Store(time.Now().UnixNano())
		switch m := msg.(type) {
		case *redis.Message:
			c.dispatch(m.Channel, m.Payload)
		case *redis.Pong:
			c.pong(m.Payload)
		}
	}
}

// lost forgets a failed connection: waiters fail, Subscribe waits for the
// next one. It reports whether the connection had been subscribed.
func (c *subConn) lost(ps *redis.PubSub) (wasReady bool) {
	c.mu.Lock()
	if c.ps == ps {
		c.ps = nil
	}
	wasReady = c.ready
	if c.ready {
		c.ready = false
		c.up = make(chan struct{})
	}
	for tok, w := range c.waiters {
		w <- errConnLost
		delete(c.waiters, tok)
	}
	c.mu.Unlock()
	_ = ps.Close()
	return wasReady
}

// shutdown closes the connection for Close; ctx is already cancelled, so
// run does not dial again.
func (c *subConn) shutdown() {
	c.mu.Lock()
	if c.ps != nil {
		_ = c.ps.Close()
	}
	c.mu.Unlock()
}

// kill closes ps if it is still the current connection; run notices and
// reconnects.
func (c *subConn) kill(ps *redis.PubSub) {
	c.mu.Lock()
	if c.ps == ps {
		_ = ps.Close()
	}
	c.mu.Unlock()
}

func (c *subConn) pong(payload string) {
	switch payload {
	case pingHealth:
	case pingReady:
		c.mu.Lock()
		c.ready = true
		close(c.up)
		c.mu.Unlock()
		c.setDown(false)
		if c.everReady {
			c.b.opts.Logger.Info("redis broker: pub/sub connection restored", "server", c.name)
			// The reader runs on b.wg, so the count is not zero here.
			c.b.wg.Add(1)
			go c.commandsBack(c.b.ctx)
		}
		c.everReady = true
	default:
		c.mu.Lock()
		w := c.waiters[payload]
		delete(c.waiters, payload)
		c.mu.Unlock()
		if w != nil {
			w <- nil
		}
	}
}

// dispatch decodes a message and calls the Handler.
func (c *subConn) dispatch(channel, payload string) {
	c.subsMu.RLock()
	t, ok := c.subs[channel]
	c.subsMu.RUnlock()
	h := c.b.h()
	if !ok || h == nil || payload == "" {
		return
	}
	err := errMalformed
	switch t.kind {
	case kindControl:
		h.HandleControl([]byte(payload))
		err = nil
	case kindDirect:
		if payload[0] == msgDirect {
			var user, rest string
			if user, rest, err = readString(payload[1:]); err == nil {
				var pub *broker.Publication
				var pos broker.StreamPosition
				if pub, pos, err = decodeDelivery(rest); err == nil {
					h.HandleDirect(user, pub, pos)
				}
			}
		}
	case kindChannel:
		switch payload[0] {
		case msgPublication:
			var pub *broker.Publication
			var pos broker.StreamPosition
			if pub, pos, err = decodeDelivery(payload[1:]); err == nil {
				h.HandlePublication(t.channel, pub, pos)
			}
		case msgJoin, msgLeave:
			var info *broker.ClientInfo
			if info, _, err = decodeInfo(payload[1:]); err == nil && info != nil {
				if payload[0] == msgJoin {
					h.HandleJoin(t.channel, info)
				} else {
					h.HandleLeave(t.channel, info)
				}
			}
		}
	}
	if err != nil {
		c.b.opts.Logger.Warn("redis broker: dropping malformed message", "channel", channel, "err", err)
	}
}

// subscribe adds a Redis channel and returns once Redis confirmed it, so
// that whatever is published after the call returns is delivered.
func (c *subConn) subscribe(ctx context.Context, name string, t target) error {
	c.subsMu.Lock()
	_, had := c.subs[name]
	c.subs[name] = t
	c.subsMu.Unlock()
	err := c.change(ctx, name, true)
	if err != nil && !had {
		// Leave nothing behind that a reconnection would subscribe.
		c.subsMu.Lock()
		delete(c.subs, name)
		c.subsMu.Unlock()
	}
	return err
}

// unsubscribe removes a Redis channel and returns once Redis confirmed it:
// nothing published after the call returns is delivered.
func (c *subConn) unsubscribe(ctx context.Context, name string) error {
	c.subsMu.Lock()
	delete(c.subs, name)
	c.subsMu.Unlock()
	return c.change(ctx, name, false)
}

// change sends (UN)SUBSCRIBE and waits for the barrier PING behind it.
func (c *subConn) change(ctx context.Context, name string, sub bool) error {
	// Checked before taking mu, which a redial holds for up to Timeout.
	if err := c.unavailable(); err != nil {
		if !sub {
			return nil // no connection has it, and the next will not
		}
		return err // rather than wait for a connection that keeps failing
	}
	ctx, cancel := context.WithTimeout(ctx, c.b.opts.Timeout)
	defer cancel()
	var ps *redis.PubSub
	for {
		c.mu.Lock()
		if c.ready {
			ps = c.ps
			break // holding mu
		}
		up := c.up
		c.mu.Unlock()
		if !sub {
			// The channel went with the lost connection and is no longer
			// in subs, so the next one will not subscribe it.
			return nil
		}
		select {
		case <-up:
		case <-c.b.ctx.Done():
			return broker.ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("redis: pub/sub connection to %s is down: %w", c.name, ctx.Err())
		}
	}
	var err error
	switch {
	case sub && c.sharded:
		err = ps.SSubscribe(ctx, name)
	case sub:
		err = ps.Subscribe(ctx, name)
	case c.sharded:
		err = ps.SUnsubscribe(ctx, name)
	default:
		err = ps.Unsubscribe(ctx, name)
	}
	var tok string
	w := make(chan error, 1)
	if err == nil {
		c.seq++
		tok = "b" + strconv.FormatUint(c.seq, 10)
		c.waiters[tok] = w
		if err = ps.Ping(ctx, tok); err != nil {
			delete(c.waiters, tok)
		}
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err = <-w:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiters, tok)
		c.mu.Unlock()
		return fmt.Errorf("redis: %s not confirmed: %w", name, ctx.Err())
	}
}

// waitUp waits until the connection is subscribed or ctx ends.
func (c *subConn) waitUp(ctx context.Context) error {
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *subConn) isUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// check is the health loop's visit: ping a connection quiet for half an
// interval, so that a live one is heard from at least once per interval,
// and close one silent for two intervals, subscribed or not yet (a server
// that accepts connections but never answers, behind a partition).
func (c *subConn) check(ctx context.Context, interval time.Duration) {
	c.mu.Lock()
	ps, ready := c.ps, c.ready
	c.mu.Unlock()
	if ps == nil {
		return
	}
	quiet := time.Duration(time.Now().UnixNano() - c.lastRead.Load())
	switch {
	case quiet > 2*interval:
		if ready { // a connection never subscribed is run's to report
			c.b.opts.Logger.Warn("redis broker: pub/sub connection silent, reconnecting", "server", c.name, "silent", quiet)
		}
		c.kill(ps)
	case ready && quiet > interval/2:
		ctx, cancel := context.WithTimeout(ctx, c.b.opts.Timeout)
		err := ps.Ping(ctx, pingHealth)
		cancel()
		if err != nil {
			c.kill(ps)
		}
	}
}

// channels lists the Herald channels subscribed on this connection.
func (c *subConn) channels() []string {
	c.subsMu.RLock()
	defer c.subsMu.RUnlock()
	out := make([]string, 0, len(c.subs))
	for _, t := range c.subs {
		if t.kind == kindChannel {
			out = append(out, t.channel)
		}
	}
	return out
}

// healthLoop checks every subscriber connection twice per interval.
func (b *Broker) healthLoop() {
	defer b.wg.Done()
	interval := b.opts.HealthCheckInterval
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		conns := append([]*subConn(nil), b.conns...)
		b.mu.Unlock()
		for _, c := range conns {
			c.check(b.ctx, interval)
		}
	}
}
