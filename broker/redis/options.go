package redis

import (
	"errors"
	"log/slog"
	"strings"
	"time"
)

// Options configures a Broker. Every zero value means the default in its
// comment.
type Options struct {
	// Addrs are the Redis servers, each "host:port" or a redis:// or
	// rediss:// URL (with credentials, database, TLS). One address is a
	// single Redis. Several are independent shards: each channel, inbox and
	// presence set lives on one of them, chosen by rendezvous hashing of its
	// name, so every node must be given the same addresses (in any order).
	// With Cluster they are seed nodes of one Redis Cluster. Default
	// ["127.0.0.1:6379"].
	Addrs []string
	// Cluster says Addrs are nodes of a Redis Cluster. Keys carry a hash tag
	// so that a channel's keys share a slot, and channel messages use
	// sharded pub/sub (SPUBLISH), which stays on the slot's shard.
	Cluster bool
	// Prefix starts every key and pub/sub channel name, so several Herald
	// installations (or test runs) can share a Redis. It must not contain
	// '{' or '}', which Redis Cluster reads as a hash tag. Default "herald".
	Prefix string
	// MetaTTL is how long a stream's position (offset and epoch) outlives
	// its last publication or read when StreamOptions.MetaTTL or
	// HistoryOptions.MetaTTL is zero. Default 24h, as the memory broker.
	MetaTTL time.Duration
	// IdempotencyTTL is how long an idempotency key is remembered when
	// PublishOptions.IdempotencyTTL is zero. Default 5m.
	IdempotencyTTL time.Duration
	// SweepInterval is how often this node removes expired presence
	// entries of the channels it subscribes to and announces them as
	// leaves. Reads never see expired entries whatever the interval; it
	// bounds how late a crashed node's clients are seen leaving. Each sweep
	// costs one script call per subscribed channel. Default 1s.
	SweepInterval time.Duration
	// Timeout bounds every network operation: dialing, reading a reply,
	// waiting for Redis to confirm a subscription. A call whose context has
	// an earlier deadline ends at that deadline instead. While a server is
	// known to be unreachable, calls to it fail at once with
	// ErrUnavailable instead. Default 3s.
	Timeout time.Duration
	// HealthCheckInterval is how long a subscriber connection may stay
	// silent before it is pinged; a ping unanswered for as long again
	// counts as a lost connection, so a dead connection that never reports
	// an error (a network partition) is noticed within twice this. Default
	// 1s.
	HealthCheckInterval time.Duration
	// PoolSize is the number of command connections per Redis server.
	// Default go-redis's: 10 per GOMAXPROCS.
	PoolSize int
	// Logger receives connection losses and recoveries. Default: discard.
	Logger *slog.Logger
}

var errPrefix = errors.New("redis: Prefix must not contain '{' or '}'")

// withDefaults fills in the zero values and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if len(o.Addrs) == 0 {
		o.Addrs = []string{"127.0.0.1:6379"}
	}
	if o.Prefix == "" {
		o.Prefix = "herald"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return o, errPrefix
	}
	if o.MetaTTL <= 0 {
		o.MetaTTL = 24 * time.Hour
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 5 * time.Minute
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.HealthCheckInterval <= 0 {
		o.HealthCheckInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
