package nats

import (
	"errors"
	"log/slog"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Options configures a Broker. Every zero value means the default in its
// comment. Every node of a Herald cluster must use the same Prefix and the
// same retention settings: they describe shared JetStream streams.
type Options struct {
	// URL lists the NATS servers, comma-separated. Default
	// "nats://127.0.0.1:4222".
	URL string
	// ConnOptions are passed to nats.Connect after the broker's own, for
	// credentials, TLS, or nats.InProcessServer to reach an embedded
	// server without a socket. The broker installs its own disconnect,
	// reconnect and closed handlers; options setting those are overridden.
	ConnOptions []natsgo.Option
	// Name is the connection's name, shown by the server's monitoring.
	// Default "herald".
	Name string
	// Prefix starts every subject, stream and consumer name, so that
	// several Herald clusters (or test runs) can share one NATS. Letters,
	// digits, '-' and '_' only. Default "herald".
	Prefix string
	// Replicas is the JetStream replication of the broker's streams: 1, or
	// 3 for a cluster that survives losing a server. Default 1.
	Replicas int
	// MetaTTL is how long a stream's position (offset and epoch) outlives
	// its last publication or read when StreamOptions.MetaTTL or
	// HistoryOptions.MetaTTL is zero. Default 24h, as the memory broker.
	MetaTTL time.Duration
	// HistoryMaxAge is how long JetStream keeps any history message, the
	// hard cap on every stream's TTL and MetaTTL: a position idle for
	// longer starts a new epoch even if a longer MetaTTL was asked for.
	// Default twice MetaTTL.
	HistoryMaxAge time.Duration
	// IdempotencyTTL is how long an idempotency key is remembered when
	// PublishOptions.IdempotencyTTL is zero. Default 5m.
	IdempotencyTTL time.Duration
	// KeyMaxAge is how long JetStream keeps a presence entry or an
	// idempotency key at most, a cap on presence TTLs and idempotency TTLs.
	// Default 1h.
	KeyMaxAge time.Duration
	// SweepInterval is how often this node looks for expired presence
	// entries on the channels it subscribes to, to announce them as leaves.
	// Reads never see expired entries whatever the interval; it bounds how
	// late a crashed node's clients are seen leaving. Default 1s.
	SweepInterval time.Duration
	// ReorderWait is how long a publication that arrived ahead of its
	// predecessor is held before the predecessor is fetched from the
	// stream. Publications from different nodes can overtake each other on
	// the way, and a publisher can die between appending and publishing
	// live. Default 100ms.
	ReorderWait time.Duration
	// Timeout bounds every request to NATS when the caller's context has
	// no earlier deadline. Default 3s.
	Timeout time.Duration
	// ReconnectWait is the pause between attempts to reach NATS again
	// after the connection was lost. Default 500ms.
	ReconnectWait time.Duration
	// Logger receives connection losses and recoveries and background
	// errors. Default: discard.
	Logger *slog.Logger
}

var errPrefix = errors.New("nats: Prefix must be letters, digits, '-' and '_'")

// withDefaults fills in the zero values and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		o.URL = natsgo.DefaultURL
	}
	if o.Name == "" {
		o.Name = "herald"
	}
	if o.Prefix == "" {
		o.Prefix = "herald"
	}
	for _, c := range o.Prefix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return o, errPrefix
		}
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MetaTTL <= 0 {
		o.MetaTTL = 24 * time.Hour
	}
	if o.HistoryMaxAge <= 0 {
		o.HistoryMaxAge = 2 * o.MetaTTL
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 5 * time.Minute
	}
	if o.KeyMaxAge <= 0 {
		o.KeyMaxAge = time.Hour
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
	if o.ReorderWait <= 0 {
		o.ReorderWait = 100 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
