package config

import (
	"fmt"
	"math"
	"time"

	"github.com/heraldhq/herald/hub"
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
	AllowSubscribe hub.SubscribeMode `yaml:"allow_subscribe"`
	// AllowPublish: subscribers (default), none, authenticated or any.
	AllowPublish hub.AccessMode `yaml:"allow_publish"`
	// AllowPresence and AllowHistory: subscribers (default), none,
	// authenticated or any. Presence or history must also be on.
	AllowPresence hub.AccessMode `yaml:"allow_presence"`
	AllowHistory  hub.AccessMode `yaml:"allow_history"`
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

// Options returns the hub's options for the namespace. Namespace is the
// file's schema of hub.Namespace, its fields with their YAML keys and the
// file's documentation: Options is a type conversion, so neither struct can
// gain an option the other lacks without this failing to compile.
func (n Namespace) Options() hub.Namespace { return hub.Namespace(n) }

// HubNamespaces returns the configured namespaces as the hub's options.
func (c *Config) HubNamespaces() map[string]hub.Namespace {
	out := make(map[string]hub.Namespace, len(c.Namespaces))
	for name, ns := range c.Namespaces {
		out[name] = ns.Options()
	}
	return out
}

// Normalize fills empty modes with the hub's defaults.
func (n *Namespace) Normalize() {
	opts := n.Options()
	opts.Normalize()
	*n = Namespace(opts)
}

// validate reports the first invalid option, naming its key.
func (n *Namespace) validate() error {
	switch n.AllowSubscribe {
	case "", hub.SubscribeAny, hub.SubscribeAuthenticated, hub.SubscribeToken:
	default:
		return fmt.Errorf("allow_subscribe: %q is not one of any, authenticated, token", n.AllowSubscribe)
	}
	for key, m := range map[string]hub.AccessMode{"allow_publish": n.AllowPublish, "allow_presence": n.AllowPresence, "allow_history": n.AllowHistory} {
		switch m {
		case "", hub.AccessNone, hub.AccessSubscribers, hub.AccessAuthenticated, hub.AccessAny:
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
	if opts := n.Options(); n.Recover && !opts.KeepsHistory() {
		return fmt.Errorf("recover: needs history_size and history_ttl")
	}
	return nil
}
