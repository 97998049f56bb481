package hub

import (
	"math"
	"strings"
	"time"
)

// SubscribeMode says who may subscribe to a namespace's channels.
type SubscribeMode string

// Subscribe modes.
const (
	SubscribeAny           SubscribeMode = "any"           // anyone, anonymous included
	SubscribeAuthenticated SubscribeMode = "authenticated" // any connection with a user
	SubscribeToken         SubscribeMode = "token"         // a channel token or a matching channels claim
)

// AccessMode says who may publish to, or read presence or history of, a
// namespace's channels.
type AccessMode string

// Access modes.
const (
	AccessNone          AccessMode = "none"          // nobody (server API only)
	AccessSubscribers   AccessMode = "subscribers"   // connections subscribed to the channel
	AccessAuthenticated AccessMode = "authenticated" // any connection with a user
	AccessAny           AccessMode = "any"           // anyone, anonymous included
)

// Namespace holds the options of the channels named "name:..." (or, for the
// default namespace, of names without a colon). The zero value keeps no
// history, tracks no presence, lets anyone subscribe and only subscribers
// publish, and shows presence and history (where kept) to subscribers.
type Namespace struct {
	// Presence tracks who is subscribed, for the presence commands.
	Presence bool
	// JoinLeave sends join and leave pushes to subscribers. Needs Presence.
	JoinLeave bool
	// HistorySize and HistoryTTL keep a stream of recent publications; both
	// must be positive for the channel to have offsets and recovery.
	HistorySize int
	HistoryTTL  time.Duration
	// Recover lets subscribe with since return missed publications.
	Recover bool
	// AllowSubscribe: any (default), authenticated or token.
	AllowSubscribe SubscribeMode
	// AllowPublish: subscribers (default), none, authenticated or any.
	AllowPublish AccessMode
	// AllowPresence and AllowHistory: subscribers (default), none,
	// authenticated or any. Presence or history must also be on.
	AllowPresence AccessMode
	AllowHistory  AccessMode
	// SubscribeProxy asks the hub's SubscribeProxy (the application's
	// backend) about every client subscribe, after the checks above.
	SubscribeProxy bool
	// PublishRate caps client publishes to each channel of the namespace,
	// per second on this node, with bursts of PublishBurst (default: the
	// rate rounded up, at least 1); past it a publish gets error 110. 0: no
	// limit. Server API publishes are never limited: the backend is trusted.
	PublishRate  float64
	PublishBurst int
}

// publishBurst is the burst of the per-channel publish bucket.
func (n *Namespace) publishBurst() int {
	if n.PublishBurst > 0 {
		return n.PublishBurst
	}
	return max(1, int(math.Ceil(n.PublishRate)))
}

// OpenNamespace is what --dev gives every namespace: everything on, anyone
// allowed.
var OpenNamespace = Namespace{
	Presence:       true,
	JoinLeave:      true,
	HistorySize:    100,
	HistoryTTL:     time.Hour,
	Recover:        true,
	AllowSubscribe: SubscribeAny,
	AllowPublish:   AccessAny,
	AllowPresence:  AccessAny,
	AllowHistory:   AccessAny,
}

// KeepsHistory reports whether the namespace's channels have streams.
func (n *Namespace) KeepsHistory() bool { return n.HistorySize > 0 && n.HistoryTTL > 0 }

// Normalize fills empty modes with their defaults.
func (n *Namespace) Normalize() {
	if n.AllowSubscribe == "" {
		n.AllowSubscribe = SubscribeAny
	}
	if n.AllowPublish == "" {
		n.AllowPublish = AccessSubscribers
	}
	if n.AllowPresence == "" {
		n.AllowPresence = AccessSubscribers
	}
	if n.AllowHistory == "" {
		n.AllowHistory = AccessSubscribers
	}
}

// NamespaceOf returns the namespace part of a channel name: what stands before
// the first colon, or "" for the default namespace.
func NamespaceOf(channel string) string {
	if i := strings.IndexByte(channel, ':'); i >= 0 {
		return channel[:i]
	}
	return ""
}
