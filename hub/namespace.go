package hub

import (
	"fmt"
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
	Presence bool `yaml:"presence"`
	// JoinLeave sends join and leave pushes to subscribers. Needs Presence.
	JoinLeave bool `yaml:"join_leave"`
	// HistorySize and HistoryTTL keep a stream of recent publications; both
	// must be positive for the channel to have offsets and recovery.
	HistorySize int           `yaml:"history_size"`
	HistoryTTL  time.Duration `yaml:"history_ttl"`
	// Recover lets subscribe with since return missed publications.
	Recover bool `yaml:"recover"`
	// AllowSubscribe: any (default), authenticated or token.
	AllowSubscribe SubscribeMode `yaml:"allow_subscribe"`
	// AllowPublish: subscribers (default), none, authenticated or any.
	AllowPublish AccessMode `yaml:"allow_publish"`
	// AllowPresence and AllowHistory: subscribers (default), none,
	// authenticated or any. Presence or history must also be on.
	AllowPresence AccessMode `yaml:"allow_presence"`
	AllowHistory  AccessMode `yaml:"allow_history"`
	// SubscribeProxy asks the hub's SubscribeProxy (the application's
	// backend) about every client subscribe, after the checks above.
	SubscribeProxy bool `yaml:"subscribe_proxy"`
	// PublishRate caps client publishes to each channel of the namespace,
	// per second on this node, with bursts of PublishBurst (default: the
	// rate rounded up, at least 1); past it a publish gets error 110. 0: no
	// limit. Server API publishes are never limited: the backend is trusted.
	PublishRate  float64 `yaml:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst"`
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

// Validate reports the first invalid option, naming its key.
func (n *Namespace) Validate() error {
	switch n.AllowSubscribe {
	case "", SubscribeAny, SubscribeAuthenticated, SubscribeToken:
	default:
		return fmt.Errorf("allow_subscribe: %q is not one of any, authenticated, token", n.AllowSubscribe)
	}
	for key, m := range map[string]AccessMode{"allow_publish": n.AllowPublish, "allow_presence": n.AllowPresence, "allow_history": n.AllowHistory} {
		switch m {
		case "", AccessNone, AccessSubscribers, AccessAuthenticated, AccessAny:
		default:
			return fmt.Errorf("%s: %q is not one of none, subscribers, authenticated, any", key, m)
		}
	}
	if n.HistorySize < 0 {
		return fmt.Errorf("history_size: must not be negative")
	}
	if n.HistoryTTL < 0 {
		return fmt.Errorf("history_ttl: must not be negative")
	}
	if (n.HistorySize > 0) != (n.HistoryTTL > 0) {
		return fmt.Errorf("history_size and history_ttl: set both or neither")
	}
	if n.PublishRate < 0 || math.IsNaN(n.PublishRate) || math.IsInf(n.PublishRate, 0) {
		return fmt.Errorf("publish_rate: must be a finite number, 0 or more")
	}
	if n.PublishBurst < 0 {
		return fmt.Errorf("publish_burst: must not be negative")
	}
	if n.JoinLeave && !n.Presence {
		return fmt.Errorf("join_leave: needs presence: true")
	}
	if n.Recover && !n.KeepsHistory() {
		return fmt.Errorf("recover: needs history_size and history_ttl")
	}
	return nil
}

// NamespaceOf returns the namespace part of a channel name: what stands before
// the first colon, or "" for the default namespace.
func NamespaceOf(channel string) string {
	if i := strings.IndexByte(channel, ':'); i >= 0 {
		return channel[:i]
	}
	return ""
}
