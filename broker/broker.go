// Package broker defines what Herald needs from the engine that carries
// messages between connections: live pub/sub fan-out, history streams with
// offsets and epochs, presence, and per-user inboxes.
//
// The interfaces are small and split by capability so that an engine can be
// built, tested and replaced one part at a time. broker/memory implements all
// of them inside one process; every implementation must pass the conformance
// suite in broker/brokertest.
//
// All methods may be called concurrently. Every method that does I/O takes a
// context first.
package broker

import (
	"context"
	"errors"
	"time"
)

// ErrUnrecoverable is returned by History when Since names a position the
// stream cannot continue from: the epoch differs or the publications after it
// are no longer retained. The returned publications and position are still
// valid: they are what the stream has now.
var ErrUnrecoverable = errors.New("broker: position unrecoverable")

// ErrClosed is returned by a broker that has been closed.
var ErrClosed = errors.New("broker: closed")

// ClientInfo identifies the connection behind a publication or presence entry.
type ClientInfo struct {
	User   string
	Client string
	// ConnInfo is the connection's info claim (any JSON), shown in presence.
	ConnInfo []byte
}

// Publication is one entry of a channel's or an inbox's stream.
type Publication struct {
	// Offset is the position in the stream, starting at 1. Zero when the
	// channel keeps no history.
	Offset uint64
	// Data is the published payload, opaque to the broker.
	Data []byte
	// Info is the publisher, nil when published through the server API.
	Info *ClientInfo
	// Time is when the broker accepted the publication, in unix milliseconds.
	Time int64
	// JSON says Data is known to be valid JSON (a JSON client's publish,
	// already parsed), so that encoders need not scan it again. Brokers
	// need not keep it: false only means unknown.
	JSON bool
}

// StreamPosition is a place in a stream. Epoch changes whenever the stream
// loses continuity.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// StreamOptions says how a channel's or an inbox's stream keeps publications.
// A zero Size or TTL keeps no history: the publication is delivered live only
// and gets offset 0.
type StreamOptions struct {
	// Size is how many publications the stream retains at most.
	Size int
	// TTL is how long a publication is retained.
	TTL time.Duration
	// MetaTTL is how long the stream's position (offset and epoch) outlives
	// its last publication. Zero means the broker's default.
	MetaTTL time.Duration
}

// Keeps reports whether the options keep any history.
func (o StreamOptions) Keeps() bool { return o.Size > 0 && o.TTL > 0 }

// PublishOptions tunes one publish.
type PublishOptions struct {
	Stream StreamOptions
	// IdempotencyKey, when set, makes a repeated publish with the same key on
	// the same channel within IdempotencyTTL return the first result without
	// delivering again.
	IdempotencyKey string
	IdempotencyTTL time.Duration
}

// Handler receives what the broker delivers to this node. The hub implements
// it. Calls for one channel arrive in offset order, from one goroutine at a
// time, and must not block: the handler only hands the bytes to connection
// queues. A broker may call it while holding its own locks, so a handler must
// never call back into the broker.
type Handler interface {
	// HandlePublication is a new publication on a channel this node subscribed to.
	HandlePublication(channel string, pub *Publication, pos StreamPosition)
	// HandleJoin and HandleLeave are presence changes on a subscribed channel.
	HandleJoin(channel string, info *ClientInfo)
	HandleLeave(channel string, info *ClientInfo)
	// HandleDirect is a message sent to a user; every node receives it.
	HandleDirect(user string, pub *Publication, pos StreamPosition)
	// HandleControl is a node-to-node command (server API actions that must
	// reach every node); every node receives it, the sender included.
	HandleControl(data []byte)
	// HandleReconnect says the broker lost a live connection to the engine
	// and has it back, subscribed again to every channel it carries:
	// deliveries in between may be missing, so the hub checks its
	// subscribers' positions against the streams. A broker with several
	// connections (shards) may call it once for each that recovered.
	// Brokers without a remote engine never call it.
	HandleReconnect()
}

// PubSub is live fan-out between nodes.
type PubSub interface {
	// Run starts delivering to h and returns; it must be called before
	// Subscribe. Control and direct messages published anywhere after Run
	// returns reach h. A broker may allow a second Run to replace the handler (the
	// memory broker does, so a server restarted in one process keeps its
	// history).
	Run(ctx context.Context, h Handler) error
	// Subscribe makes this node receive a channel's publications and presence
	// events. Unsubscribe stops that. Both are idempotent.
	Subscribe(ctx context.Context, channel string) error
	Unsubscribe(ctx context.Context, channel string) error
	// Publish appends to the channel's stream (when opts.Stream keeps history)
	// and delivers to every subscribed node, atomically: offsets never skip
	// or repeat, and delivery order is offset order. It reports whether the
	// publish was a repeat of an earlier one with the same idempotency key,
	// in which case nothing was delivered.
	Publish(ctx context.Context, channel string, pub *Publication, opts PublishOptions) (pos StreamPosition, repeated bool, err error)
	// PublishJoin and PublishLeave deliver presence changes to subscribed nodes.
	PublishJoin(ctx context.Context, channel string, info *ClientInfo) error
	PublishLeave(ctx context.Context, channel string, info *ClientInfo) error
	// PublishControl delivers data to every node's HandleControl.
	PublishControl(ctx context.Context, data []byte) error
}

// HistoryOptions selects publications from a stream.
type HistoryOptions struct {
	// Since, when set, selects publications with offsets greater than
	// Since.Offset; the call fails with ErrUnrecoverable (still returning what
	// it has) when Since.Epoch differs from the stream's or publications after
	// Since.Offset are gone.
	Since *StreamPosition
	// Limit caps the number returned; 0 means everything retained, and a
	// negative limit returns none (only the position).
	Limit int
	// Reverse returns the newest first.
	Reverse bool
	// MetaTTL is passed through so that reading a stream refreshes it.
	MetaTTL time.Duration
}

// History reads channel streams.
type History interface {
	// History returns publications selected by opts and the stream's current
	// position. A channel never published to has offset 0 and a fresh epoch,
	// which stays the same until the stream loses continuity.
	History(ctx context.Context, channel string, opts HistoryOptions) ([]*Publication, StreamPosition, error)
	// RemoveHistory drops a channel's stream; its epoch changes.
	RemoveHistory(ctx context.Context, channel string) error
}

// PresenceStats counts a channel's presence.
type PresenceStats struct {
	Clients int
	Users   int
}

// Presence tracks who is in a channel.
//
// Entries belong to the node that added them, which refreshes them while the
// client stays. An entry that expires instead (its node died) is removed and
// announced to subscribed nodes with a leave, once, within a bounded time
// after its expiry: other clients see a crashed node's clients leave.
//
// Whoever removes an entry announces its leave: the sweep that finds it
// expired, or RemovePresence with announce. The two exclude each other, so
// a client leaves once however its entry goes, and a removal retried after
// a failure (its reply lost, the engine away) announces nothing twice.
type Presence interface {
	// AddPresence adds or refreshes a client's entry; it expires after ttl
	// unless refreshed.
	AddPresence(ctx context.Context, channel string, info *ClientInfo, ttl time.Duration) error
	// RemovePresence removes info.Client's entry. With announce, and only
	// if this call removed the entry (expired or not, but not yet swept),
	// subscribed nodes get a leave with info, as from PublishLeave.
	// Removing a missing entry is not an error and announces nothing.
	RemovePresence(ctx context.Context, channel string, info *ClientInfo, announce bool) error
	// Presence returns the entries by client id.
	Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error)
	// PresenceStats counts the entries and distinct users.
	PresenceStats(ctx context.Context, channel string) (PresenceStats, error)
}

// Inbox keeps per-user direct-message streams.
type Inbox interface {
	// Send appends to the user's inbox (when opts keeps history) and delivers
	// to every node's HandleDirect.
	Send(ctx context.Context, user string, pub *Publication, opts StreamOptions) (StreamPosition, error)
	// InboxHistory reads a user's inbox like History reads a channel.
	InboxHistory(ctx context.Context, user string, opts HistoryOptions) ([]*Publication, StreamPosition, error)
}

// Broker is an engine that provides every capability.
type Broker interface {
	PubSub
	History
	Presence
	Inbox
	// Close releases the broker's resources. Calls after Close fail with
	// ErrClosed.
	Close() error
}

// Pinger is implemented by brokers that can tell whether their engine is
// reachable; readiness checks use it.
type Pinger interface {
	Ping(ctx context.Context) error
}
