// Package hub is Herald's core: it keeps the connected clients, their
// subscriptions and users in sharded registries, runs client commands against
// the broker, and fans publications out to connections' write queues.
//
// The hub knows nothing about HTTP or WebSocket framing: the server hands it
// a Transport per connection and calls Client.HandleFrame with each frame.
//
// # Goroutines
//
// Run starts four goroutines: the presence refresher, the retrier of
// presence removals the engine did not take, the control worker and the
// node reporter. The hub starts others as work comes: one per subscription
// catching up on what it missed (catchup.go), a resync after a broker
// outage (resync.go), a sweep of the outgoing budget (budget.go); join and
// leave pushes held back run on timers. All of them derive from the hub's
// context and are counted, and Shutdown cancels the one and waits for the
// other (lifetime.go). Each client has the transport's reader goroutine,
// which runs its commands in order (and waits while its replies pile up),
// and a writer goroutine that exists only while its queue is non-empty.
// The broker calls the hub's Handle* methods from its
// delivery goroutines; they never block, they only queue bytes.
//
// # Lock order
//
//	subscribeLocks[channel] → channels shard → subscription.mu → outbound.Conn.mu
//	Client.mu → (nothing else)
//	subscription.presenceMu → (a broker call; the broker's callbacks never take it)
//
// A subscription's delivery may end the client (a refused push, a gap):
// it releases subscription.mu first, then calls Disconnect, which takes
// Client.mu and outbound.Conn.mu one after the other.
//
// Broker methods are never called with a registry shard, a subscription or a
// client lock held, because the broker calls back into the hub while holding
// its own locks.
package hub

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/outage"
	"github.com/heraldhq/herald/internal/ratelimit"
	"github.com/heraldhq/herald/internal/tally"
)

// TokenVerifier checks connection and channel tokens. auth.Verifier
// implements it.
type TokenVerifier interface {
	VerifyConnect(token string) (*auth.ConnectClaims, error)
	VerifyChannel(token string) (*auth.ChannelClaims, error)
}

// Config holds the hub's options. Zero values take the defaults given in each
// field's comment.
type Config struct {
	// Namespaces maps namespace names to options; "" is the default namespace.
	Namespaces map[string]Namespace
	// OpenNamespaces gives namespaces missing from Namespaces the options of
	// OpenNamespace instead of refusing them (development mode).
	OpenNamespaces bool
	// Anonymous allows connect without a token.
	Anonymous bool

	// PingInterval is how often a ping push is sent. Default 25s.
	PingInterval time.Duration
	// PongTimeout is how long a client has to answer a ping. Default 10s.
	PongTimeout time.Duration
	// ConnectTimeout is how long a client has to send connect. Default 10s.
	ConnectTimeout time.Duration
	// RefreshNotice is how long before its token expires a client gets
	// refresh_needed. Default 1m.
	RefreshNotice time.Duration
	// PresenceTTL is the lifetime of a presence entry; the hub refreshes
	// entries at a third of it. Default 60s.
	PresenceTTL time.Duration
	// IdempotencyTTL is how long publish idempotency keys are remembered.
	// Default 5m.
	IdempotencyTTL time.Duration
	// HistoryMetaTTL is how long a stream's position outlives its last
	// publication. Default 0: the broker's default.
	HistoryMetaTTL time.Duration
	// Inbox configures user inboxes; a zero Size turns them off.
	Inbox broker.StreamOptions
	// BrokerTimeout bounds the broker work of one command or server API
	// action; past it the command fails with the temporary error 100.
	// Default 5s.
	BrokerTimeout time.Duration

	// MaxChannelsPerConnection caps subscriptions per connection. Default 128.
	MaxChannelsPerConnection int
	// CommandRate and CommandBurst shape each connection's commands.
	// Defaults 100/s and 200.
	CommandRate  float64
	CommandBurst int
	// PublishRate and PublishBurst shape each connection's publish and send
	// commands, within the command rate: over it they get error 110, which
	// counts toward RateLimitStrikes. Defaults 50/s and 200; a negative rate
	// turns the limit off.
	PublishRate  float64
	PublishBurst int
	// ReadRate and ReadBurst do the same for presence, presence_stats and
	// history, which cost the broker more than most commands. Defaults 20/s
	// and 50; a negative rate turns the limit off.
	ReadRate  float64
	ReadBurst int
	// RateLimitStrikes rate-limited commands in a row close the connection
	// with 4004. Default 50.
	RateLimitStrikes int
	// MaxPresenceMembers caps the clients a presence reply lists, for
	// clients and the server API alike: past it the reply holds the
	// MaxPresenceMembers smallest client ids, and presence_stats still
	// counts everyone. Default 1000; -1: no limit.
	MaxPresenceMembers int
	// MaxDataDepth caps how deeply arrays and objects nest in the data of a
	// JSON client's publish or send (107 past it). Data from Protobuf
	// clients and the server API is opaque bytes and never refused, but
	// reaches JSON clients inline only within this depth: deeper, it goes
	// out as b64, as bytes that are not JSON do. Presence info deeper is
	// left out of replies. Default 64 (protocol.DefaultMaxDataDepth), at
	// most protocol.MaxDataDepthCeiling (larger values are lowered to it).
	MaxDataDepth int
	// MaxFrameCommands caps the commands one frame may batch; a frame with
	// more is refused whole (none of its commands runs) and closes the
	// connection with 4500. Default 100.
	MaxFrameCommands int
	// WriteQueueMessages and WriteQueueBytes bound each connection's queue,
	// counting what is queued and the frame being written; overflow closes
	// the connection with 4001. A reply carries at most a quarter of
	// WriteQueueBytes of publications (recovery continues in pages) and a
	// history reply larger than WriteQueueBytes is refused with 106.
	// Defaults 4096 and 4 MiB.
	WriteQueueMessages int
	WriteQueueBytes    int
	// MaxOutgoingBytes bounds the bytes the node holds, queued or being
	// written, in messages built for one connection (replies, recovery
	// pages): past it the connections holding the most are closed with
	// 4001 and their queues dropped. Shared live pushes are not counted.
	// Default 64 MiB; -1: no limit.
	MaxOutgoingBytes int64
	// MaxConcurrentCatchups bounds the stream reads for recovery (a
	// subscribe or connect with since, and the pages that follow) that run
	// at once on this node; the others wait for a slot, a subscribe at most
	// BrokerTimeout (then error 100). Default 16.
	MaxConcurrentCatchups int
	// MaxPendingRoutes bounds the POSTs for stream sessions of another
	// node that wait for that node's answer at once (per node): past it a
	// POST is answered SessionUnreachable at once. Default 1024.
	MaxPendingRoutes int
	// RouteTimeout bounds how long a POST for a stream session of another
	// node waits for that node's answer. Default 5s.
	RouteTimeout time.Duration

	// ConnectProxy, when set, authenticates connects that carry no token.
	ConnectProxy ConnectProxy
	// SubscribeProxy, when set, decides subscribes to the channels of
	// namespaces with SubscribeProxy on.
	SubscribeProxy SubscribeProxy
	// MaxConnectionsPerUser caps one user's connections on this node; a
	// connect past it is refused with 4005. Default 100; -1: no limit.
	MaxConnectionsPerUser int
	// NodeName and Version identify this node in the info API.
	NodeName string
	Version  string
	// NodeInfoInterval is how often the node reports itself to the others
	// through the broker; one not heard from for three intervals leaves the
	// info API. Default 5s.
	NodeInfoInterval time.Duration
	// Logger receives the hub's logs. Default: discard.
	Logger *slog.Logger
	// Observer receives the hub's measurements (package metrics implements
	// it). Default: NopObserver.
	Observer Observer

	// NewChannelQuota caps the channel streams one user's commands may
	// start on this node per NewChannelInterval, refilling evenly over it:
	// a publish answered with offset 1, or a subscribe or history read of a
	// channel that keeps history answered with offset 0, counts one. Once
	// it is spent, publish, subscribe and history on namespaces that keep
	// history get error 110. Anonymous connections have a quota each.
	// Default 1000 per hour; -1: no quota.
	NewChannelQuota    int
	NewChannelInterval time.Duration
	// NewRecipientQuota caps the inboxes one user's sends may start on
	// this node per NewRecipientInterval (a send answered with offset 1
	// counts one); once it is spent, send gets error 110. Default 100 per
	// hour; -1: no quota.
	NewRecipientQuota    int
	NewRecipientInterval time.Duration
	// InboxPerSender caps the messages one user may send to another
	// without an answer: a bucket of InboxPerSender per recipient that
	// refills over Inbox.TTL, and at once when the recipient sends to the
	// sender. One sender thus holds at most about twice that of an inbox
	// at a time, and cannot push everyone else's messages out of it. Past
	// it, send gets error 110. Default a quarter of Inbox.Size, but at
	// least 10 (or Inbox.Size when smaller); -1: no limit.
	InboxPerSender int
	// JoinLeaveRate and JoinLeaveBurst shape the join and leave pushes of
	// each channel on this node: past the rate they are held back and
	// coalesced (a client's latest event replaces its earlier one) and go
	// out as the rate allows, so a subscriber learns of every change late
	// rather than of some never. Defaults 10/s and 50; a negative rate
	// turns the limit off.
	JoinLeaveRate  float64
	JoinLeaveBurst int
}

// Hub holds every client of this node. Create it with New, start it with
// Run, stop it with Shutdown.
type Hub struct {
	cfg     Config
	broker  broker.Broker
	tokens  TokenVerifier
	log     *slog.Logger
	obs     Observer
	started time.Time

	// namespaces are cfg.Namespaces, and openNamespace OpenNamespace, each
	// held once for every subscription to share (a copy per subscription
	// was 200 bytes of every idle connection).
	namespaces    map[string]*Namespace
	openNamespace *Namespace

	clients  clientRegistry
	users    userRegistry
	channels channelRegistry
	// channelRates are the per-channel publish buckets of namespaces with
	// a publish_rate.
	channelRates *ratelimit.Table
	// quotas bound the streams users' commands start (quota.go).
	quotas quotas
	// joinLeave holds back join and leave pushes past their rate.
	joinLeave *joinLeaveGate
	// id names this node in control messages; unlike NodeName it is
	// unique, even for nodes started on one host with one configuration.
	id       string
	nodes    nodeRegistry
	surveys  surveys
	sessions sessionRegistry
	controls controlQueue
	// subscribeLocks serialize a channel's first-subscribe and
	// last-unsubscribe so broker.Subscribe/Unsubscribe calls never cross;
	// the delivery path never takes them.
	subscribeLocks [numShards]sync.Mutex

	metrics counters
	// budget bounds the bytes held for single connections (nil: no
	// limit); catchups holds a token per recovery read in progress.
	budget   *outgoingBudget
	catchups chan struct{}

	// presenceRetries retries presence removals the engine did not take;
	// refreshLog and reportLog report the presence refresher's and the
	// node reporter's failures once per outage.
	presenceRetries presenceRetries
	refreshLog      *outage.Log
	reportLog       *outage.Log

	// beats holds every client's heartbeat deadline (heartbeat.go).
	beats beatWheel
	// life is the hub's context and the count of the work it started
	// (lifetime.go).
	life lifetime
	// writers counts the clients' writer and fan-out goroutines, which
	// Shutdown waits for last: they may start while it drains, to write
	// the 1001 close.
	writers tally.Tally
	// resyncPending coalesces HandleReconnect calls; resyncMu runs one
	// resync at a time.
	resyncPending atomic.Bool
	resyncMu      sync.Mutex

	draining  atomic.Bool
	drainedMu sync.Mutex
	drained   chan struct{}
}

// counters are the hub's own statistics, read by the info API and metrics.
type counters struct {
	slowConsumers atomic.Int64
	published     atomic.Int64
	delivered     atomic.Int64
}

// New returns a hub on broker b. tokens may be nil when only anonymous
// connections are allowed.
func New(cfg Config, b broker.Broker, tokens TokenVerifier) *Hub {
	cfg.setDefaults()
	h := &Hub{
		cfg:     cfg,
		broker:  b,
		tokens:  tokens,
		log:     cfg.Logger,
		obs:     cfg.Observer,
		started: time.Now(),
		drained: make(chan struct{}),
	}
	h.namespaces = make(map[string]*Namespace, len(cfg.Namespaces))
	for name, ns := range cfg.Namespaces {
		h.namespaces[name] = &ns
	}
	open := OpenNamespace
	h.openNamespace = &open
	h.life.init()
	h.beats.init(&h.cfg, h.fireBeats)
	h.clients.init()
	h.users.init()
	h.channels.init()
	h.channelRates = ratelimit.NewTable(maxChannelLimiters)
	h.catchups = make(chan struct{}, cfg.MaxConcurrentCatchups)
	if cfg.MaxOutgoingBytes > 0 {
		h.budget = &outgoingBudget{limit: cfg.MaxOutgoingBytes}
		h.budget.sweep = h.cutLargest
		h.budget.spawn = h.goTracked
	}
	h.quotas.init()
	h.joinLeave = newJoinLeaveGate(cfg.JoinLeaveRate, cfg.JoinLeaveBurst)
	h.controls.init()
	h.presenceRetries.init(cfg.Logger)
	h.refreshLog = outage.New(cfg.Logger, "presence refresh")
	h.reportLog = outage.New(cfg.Logger, "node report")
	h.id = newClientID()
	return h
}

// Run connects the hub to its broker and starts its background work: the
// presence refresher, the retrier of presence removals the engine did not
// take, the control worker and the node reporter. It returns once the hub
// is ready to accept clients.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.broker.Run(ctx, h); err != nil {
		return err
	}
	for _, loop := range []func(){h.refreshPresence, h.retryPresence, h.controlWorker, h.reportLoop} {
		h.goTracked(loop)
	}
	return nil
}

// ErrStopped is what Ready reports once Shutdown has begun.
var ErrStopped = errors.New("hub: shut down")

// Ready reports whether the hub can serve clients: nil while it runs and
// its broker, when the broker can tell (broker.Pinger), answers within ctx.
func (h *Hub) Ready(ctx context.Context) error {
	select {
	case <-h.life.done():
		return ErrStopped
	default:
	}
	if p, ok := h.broker.(broker.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Shutdown stops the hub: it disconnects every client with 1001
// (reconnect), cancels the work in flight (broker calls of commands,
// catch-ups, resyncs, connect proxy calls) and starts none, lets the
// clients' write queues drain, and waits until every connection is closed or ctx is done, in
// which case the remaining connections are closed at once and ctx's error
// is returned. Either way it returns only once every goroutine the hub
// started has ended. It may be called more than once. The broker is not
// closed: it belongs to the caller, who closes it next. The clients leave
// presence, but the channels are not unsubscribed at the broker one by
// one: closing the broker ends its subscriptions at once.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.draining.Store(true)
	if h.clients.count() == 0 {
		h.closeDrained()
	}
	// Every client's close code is decided before its work is cancelled:
	// 1001, not the 4006 of a command cut short.
	for _, c := range h.clients.all() {
		c.Disconnect(disconnectShutdown)
	}
	h.life.stop()
	h.beats.stop()
	var err error
	select {
	case <-h.drained:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range h.clients.all() {
			c.out.Close()
			c.closeTransport(disconnectShutdown.Code, disconnectShutdown.Reason)
			c.Closed()
		}
	}
	h.life.wait()
	// The clients are closed (drained, or their transports closed above):
	// their writers are finishing a last frame or failing on a closed
	// connection.
	_ = h.writers.Wait(context.Background())
	return err
}

// Draining reports whether Shutdown has begun.
func (h *Hub) Draining() bool { return h.draining.Load() }

// clientClosed is the last step of a client's cleanup.
func (h *Hub) clientClosed() {
	if h.draining.Load() && h.clients.count() == 0 {
		h.closeDrained()
	}
}

// closeDrained closes h.drained once; several clients may see zero at once.
func (h *Hub) closeDrained() {
	h.drainedMu.Lock()
	defer h.drainedMu.Unlock()
	select {
	case <-h.drained:
	default:
		close(h.drained)
	}
}

// refreshPresence re-adds every presence entry of this node's clients at a
// third of the presence TTL, so entries of a crashed node expire while live
// ones never do.
func (h *Hub) refreshPresence() {
	t := time.NewTicker(h.cfg.PresenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-h.life.done():
			return
		case <-t.C:
		}
		h.refreshPresenceOnce()
	}
}

// presenceRefreshers is how many presence entries a refresh pass writes at
// once. A pass has a third of the presence TTL; one entry at a time it
// takes an engine round trip per entry, so at 0.2 ms each (an engine near
// the node, under load) a node with more than 100,000 entries would not
// finish, and the entries at the end of its list would expire while their
// clients are connected.
const presenceRefreshers = 16

// refreshPresenceOnce re-adds every presence entry of this node's clients,
// presenceRefreshers at a time. The first failure ends the pass: the
// engine is away, and the next pass tries again.
func (h *Hub) refreshPresenceOnce() {
	var subs []*subscription
	for _, c := range h.clients.all() {
		subs = append(subs, c.presenceSubs()...)
	}
	ctx, cancel := context.WithTimeout(h.life.ctx, h.cfg.PresenceTTL/3)
	defer cancel()
	var (
		next      atomic.Int64
		wg        sync.WaitGroup
		failOnce  sync.Once
		failErr   error
		failedSub *subscription
	)
	for range min(presenceRefreshers, len(subs)) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(subs)) {
					return
				}
				err := ctx.Err() // the pass ran out of time, or another failed
				if err == nil {
					err = h.refreshEntry(ctx, subs[i])
				}
				if err != nil {
					failOnce.Do(func() {
						failErr, failedSub = err, subs[i]
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	if failErr != nil {
		// Logged once per outage, not once per tick.
		h.refreshLog.Fail(failErr, "channel", failedSub.channel)
		return
	}
	h.refreshLog.OK()
}
