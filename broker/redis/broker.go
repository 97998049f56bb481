// Package redis is a Herald broker on Redis (github.com/redis/go-redis/v9):
// live fan-out over pub/sub, history in streams, presence in hashes, inboxes
// as streams. It runs on a single Redis, on several independent Redis
// servers sharded by channel on the client side, or on a Redis Cluster.
//
// # Streams
//
// A channel's history is a Redis stream whose entry IDs are
// <offset>-<expiry ms>, beside a meta hash holding the top offset and the
// epoch (see keys.go for the layout). Every write goes through a Lua script
// (scripts/*.lua) that runs atomically on the Redis owning the channel: the
// publish script checks the idempotency key, increments the offset, appends
// with MAXLEN, trims expired entries from the oldest end, extends the TTLs
// (the meta outlives its publications by MetaTTL) and publishes the encoded
// publication with its offset and epoch, so that pub/sub order is offset
// order and offsets never skip or repeat. Time comes from Redis (TIME),
// never from the node, so that one clock governs a stream's expiries.
//
// A stream without meta (never used, removed, expired, or lost because Redis
// restarted empty) gets a new random epoch, chosen by the node and passed to
// the script; clients positioned in the old one are told they cannot
// recover.
//
// # Pub/sub
//
// Each node keeps one pub/sub connection per Redis server (in Cluster mode:
// one per master for the channels of its slots, using sharded pub/sub, plus
// one for control and direct messages) carrying every subscription of the
// node, whatever the number of local clients. One goroutine reads each
// connection and calls the Handler inline, decoding each message once: a
// channel's messages all travel on one connection, so the Handler sees them
// in offset order, one at a time, and since the Handler must not block,
// reading never stalls for long.
//
// Subscribe and Unsubscribe return once Redis has confirmed them: they send
// a PING behind the (UN)SUBSCRIBE and wait for its reply on the same
// connection. Control messages travel on one well-known channel (in sharded
// mode on the shard its name hashes to); direct messages on another, which
// every node subscribes to on every shard.
//
// # Outages
//
// Commands are never retried (a publish is not idempotent) and fail within
// Options.Timeout or the context's deadline, whichever is first; the hub
// reports them as temporary errors. A subscriber connection that fails, or
// stays silent past two health-check intervals, is closed and redialed with
// backoff; the new one subscribes to everything again, and once Redis has
// confirmed that and answers commands too, the Handler's HandleReconnect is
// called (once per recovery of each connection). Ping fails while any
// subscriber connection is down. While a server's subscriber connection
// cannot reconnect, commands to that server, Subscribe included, fail at
// once with ErrUnavailable instead of waiting out their timeouts (see
// circuit.go).
//
// # Presence
//
// A channel's presence is a hash (client → info) and a sorted set of expiry
// times. Reads skip expired entries. Every SweepInterval each node runs a
// script on each channel it subscribes to that removes the expired entries
// and publishes a leave for each: the script is atomic, so exactly one node
// announces each expiry.
//
// # Limits
//
// In Cluster mode, subscriptions follow the slot map seen when they were
// made; a slot that moves to another master is not followed until the
// subscription is made again (a resubscribe after its connection is lost
// also stays on the same node).
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/outage"
)

// Broker is a broker.Broker on Redis. Create it with New; it is safe for
// concurrent use.
type Broker struct {
	opts   Options
	shards []*shard
	// cluster is the Cluster client, nil unless Options.Cluster.
	cluster *redis.ClusterClient
	// pubCmd publishes channel messages: PUBLISH, or SPUBLISH in Cluster
	// mode, which keeps a channel's traffic on its slot's shard.
	pubCmd string

	// sweepLog reports the presence sweep's failures once per outage.
	sweepLog *outage.Log

	handler atomic.Pointer[handlerBox]
	closed  atomic.Bool
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	started bool
	conns   []*subConn
	// nodes are Cluster mode's per-master subscriber connections by address.
	nodes map[string]*subConn
}

var (
	_ broker.Broker = (*Broker)(nil)
	_ broker.Pinger = (*Broker)(nil)
)

// handlerBox lets the handler be swapped atomically.
type handlerBox struct{ h broker.Handler }

// New connects nothing yet: connections are dialed on first use, and
// subscriber connections by Run. It fails only on invalid options.
func New(opts Options) (*Broker, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Broker{opts: opts, pubCmd: "publish", nodes: make(map[string]*subConn)}
	b.sweepLog = outage.New(opts.Logger, "redis broker: presence sweep")
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if opts.Cluster {
		if err := b.initCluster(); err != nil {
			return nil, err
		}
		return b, nil
	}
	for _, addr := range opts.Addrs {
		ro, err := opts.clientOptions(addr)
		if err != nil {
			b.closeClients()
			return nil, err
		}
		id := fmt.Sprintf("%s/%d", ro.Addr, ro.DB)
		for _, s := range b.shards {
			if s.addr == id {
				// Two shards on one server would deliver its messages twice.
				b.closeClients()
				return nil, fmt.Errorf("redis: %s listed twice in Addrs", id)
			}
		}
		client := redis.NewClient(ro)
		b.shards = append(b.shards, &shard{addr: id, client: client, seed: fnv64(id)})
	}
	// Every shard carries direct messages, published where the user's inbox
	// lives; control messages travel on the shard their channel hashes to,
	// which every node agrees on whatever the order of Addrs.
	control := b.shardFor(b.controlChannel())
	for _, s := range b.shards {
		client := s.client.(*redis.Client)
		s.sub = b.newSubConn(s.addr, client, false, func(ctx context.Context) *redis.PubSub { return client.Subscribe(ctx) })
		client.AddHook(circuit{s.sub})
		s.sub.subs[b.directChannel()] = target{kind: kindDirect}
		if s == control {
			s.sub.subs[b.controlChannel()] = target{kind: kindControl}
		}
		b.conns = append(b.conns, s.sub)
	}
	return b, nil
}

func (b *Broker) initCluster() error {
	co := &redis.ClusterOptions{}
	for _, addr := range b.opts.Addrs {
		ro, err := b.opts.clientOptions(addr)
		if err != nil {
			return err
		}
		co.Addrs = append(co.Addrs, ro.Addr)
		co.Username, co.Password, co.TLSConfig = ro.Username, ro.Password, ro.TLSConfig
	}
	co.Protocol = 2
	co.MaxRetries = -1
	co.DialTimeout, co.ReadTimeout, co.WriteTimeout = b.opts.Timeout, b.opts.Timeout, b.opts.Timeout
	co.DialerRetries = 1
	co.ContextTimeoutEnabled = true
	co.PoolSize = b.opts.PoolSize
	co.DisableIdentity = true
	co.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	cc := redis.NewClusterClient(co)
	b.cluster = cc
	b.pubCmd = "spublish"
	b.shards = []*shard{{addr: "cluster", client: cc}}
	// Control and direct messages use plain pub/sub, which Redis Cluster
	// broadcasts to every node: one connection to any node hears them.
	global := b.newSubConn("cluster", cc, false, func(ctx context.Context) *redis.PubSub { return cc.Subscribe(ctx) })
	global.subs[b.controlChannel()] = target{kind: kindControl}
	global.subs[b.directChannel()] = target{kind: kindDirect}
	b.conns = append(b.conns, global)
	return nil
}

// clientOptions turns an address or URL into go-redis options with the
// broker's timeouts. RESP2 is enough: the broker needs nothing from RESP3.
func (o Options) clientOptions(addr string) (*redis.Options, error) {
	ro := &redis.Options{Addr: addr}
	if strings.Contains(addr, "://") {
		var err error
		if ro, err = redis.ParseURL(addr); err != nil {
			return nil, fmt.Errorf("redis: address %q: %w", addr, err)
		}
	}
	ro.Protocol = 2
	// A publish is not idempotent: retrying one whose reply was lost could
	// publish it twice. Callers retry with an idempotency key instead.
	ro.MaxRetries = -1
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = o.Timeout, o.Timeout, o.Timeout
	ro.DialerRetries = 1
	ro.ContextTimeoutEnabled = true
	ro.PoolSize = o.PoolSize
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return ro, nil
}

func (b *Broker) h() broker.Handler {
	if box := b.handler.Load(); box != nil {
		return box.h
	}
	return nil
}

// Run sets the handler and starts the subscriber connections and the
// presence sweeper. It waits, up to Options.Timeout or ctx's deadline, for
// the connections to be subscribed, so that control and direct messages
// sent from then on arrive; if Redis is unreachable it returns nil anyway
// and the connections keep trying (Ping reports it). Calling Run again
// replaces the handler.
func (b *Broker) Run(ctx context.Context, h broker.Handler) error {
	if h == nil {
		return errors.New("redis: nil handler")
	}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return broker.ErrClosed
	}
	b.handler.Store(&handlerBox{h})
	conns := append([]*subConn(nil), b.conns...)
	if !b.started {
		b.started = true
		for _, c := range conns {
			b.startLocked(c)
		}
		b.wg.Add(2)
		go b.healthLoop()
		go b.sweepLoop()
	}
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	for _, c := range conns {
		if err := c.waitUp(ctx); err != nil {
			b.opts.Logger.Warn("redis broker: not subscribed yet, retrying in the background", "server", c.name, "err", err)
			break
		}
	}
	return nil
}

// startLocked starts a subscriber connection's reader; b.mu is held.
func (b *Broker) startLocked(c *subConn) {
	b.wg.Add(1)
	go c.run(b.ctx)
}

// Close stops the goroutines and closes the connections; every later call
// fails with broker.ErrClosed. Closing twice is harmless.
func (b *Broker) Close() error {
	b.mu.Lock()
	if !b.closed.CompareAndSwap(false, true) {
		b.mu.Unlock()
		return nil
	}
	b.cancel()
	conns := b.conns
	b.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	b.wg.Wait()
	return b.closeClients()
}

func (b *Broker) closeClients() error {
	var errs []error
	for _, s := range b.shards {
		if err := s.client.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Ping checks every Redis server and that every subscriber connection is
// subscribed: while one is not, this node misses deliveries.
func (b *Broker) Ping(ctx context.Context) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	for _, s := range b.shards {
		var err error
		if b.cluster != nil {
			err = b.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				return c.Ping(ctx).Err()
			})
		} else {
			err = s.client.Ping(ctx).Err()
		}
		if err != nil {
			return b.fail(fmt.Errorf("redis: ping %s: %w", s.addr, err))
		}
	}
	b.mu.Lock()
	conns, started := b.conns, b.started
	b.mu.Unlock()
	if started {
		for _, c := range conns {
			if !c.isUp() {
				return fmt.Errorf("redis: pub/sub connection to %s is down", c.name)
			}
		}
	}
	return nil
}

// fail maps the errors of calls cut short by Close to broker.ErrClosed.
func (b *Broker) fail(err error) error {
	if err != nil && b.closed.Load() {
		return broker.ErrClosed
	}
	return err
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// ms converts a duration to whole milliseconds for Redis, rounding up so
// that a positive duration never becomes 0 ("keep nothing").
func ms(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
