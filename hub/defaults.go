package hub

import (
	"log/slog"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// DefaultConfig returns the defaults New gives the fields of a Config left
// zero, as each field's comment states them: a library user may start from
// it, and the herald binary's tests check that its default configuration
// file agrees. It has no namespaces (every channel is refused), inboxes off,
// and InboxPerSender 0, which New derives from Inbox.Size; Logger and
// Observer are nil, which New replaces with a discarding logger and
// NopObserver.
func DefaultConfig() Config {
	return Config{
		PingInterval:             25 * time.Second,
		PongTimeout:              10 * time.Second,
		ConnectTimeout:           10 * time.Second,
		RefreshNotice:            time.Minute,
		PresenceTTL:              60 * time.Second,
		IdempotencyTTL:           5 * time.Minute,
		BrokerTimeout:            5 * time.Second,
		MaxChannelsPerConnection: 128,
		CommandRate:              100,
		CommandBurst:             200,
		PublishRate:              50,
		PublishBurst:             200,
		ReadRate:                 20,
		ReadBurst:                50,
		RateLimitStrikes:         50,
		MaxPresenceMembers:       1000,
		MaxDataDepth:             protocol.DefaultMaxDataDepth,
		MaxFrameCommands:         100,
		WriteQueueMessages:       4096,
		WriteQueueBytes:          4 << 20,
		MaxOutgoingBytes:         64 << 20,
		MaxConcurrentCatchups:    16,
		MaxPendingRoutes:         1024,
		RouteTimeout:             5 * time.Second,
		MaxConnectionsPerUser:    100,
		NodeInfoInterval:         5 * time.Second,
		NewChannelQuota:          1000,
		NewChannelInterval:       time.Hour,
		NewRecipientQuota:        100,
		NewRecipientInterval:     time.Hour,
		JoinLeaveRate:            10,
		JoinLeaveBurst:           50,
	}
}

// setDefaults fills the fields left zero from DefaultConfig.
func (c *Config) setDefaults() {
	d := DefaultConfig()
	// Zero or negative takes the default.
	positive(&c.PingInterval, d.PingInterval)
	positive(&c.PongTimeout, d.PongTimeout)
	positive(&c.ConnectTimeout, d.ConnectTimeout)
	positive(&c.RefreshNotice, d.RefreshNotice)
	positive(&c.PresenceTTL, d.PresenceTTL)
	positive(&c.IdempotencyTTL, d.IdempotencyTTL)
	positive(&c.BrokerTimeout, d.BrokerTimeout)
	positive(&c.NodeInfoInterval, d.NodeInfoInterval)
	positive(&c.NewChannelInterval, d.NewChannelInterval)
	positive(&c.NewRecipientInterval, d.NewRecipientInterval)
	positive(&c.MaxChannelsPerConnection, d.MaxChannelsPerConnection)
	positive(&c.CommandRate, d.CommandRate)
	positive(&c.CommandBurst, d.CommandBurst)
	positive(&c.PublishBurst, d.PublishBurst)
	positive(&c.ReadBurst, d.ReadBurst)
	positive(&c.RateLimitStrikes, d.RateLimitStrikes)
	positive(&c.MaxDataDepth, d.MaxDataDepth)
	c.MaxDataDepth = min(c.MaxDataDepth, protocol.MaxDataDepthCeiling)
	positive(&c.MaxFrameCommands, d.MaxFrameCommands)
	positive(&c.JoinLeaveBurst, d.JoinLeaveBurst)
	positive(&c.WriteQueueMessages, d.WriteQueueMessages)
	positive(&c.WriteQueueBytes, d.WriteQueueBytes)
	positive(&c.MaxConcurrentCatchups, d.MaxConcurrentCatchups)
	positive(&c.MaxPendingRoutes, d.MaxPendingRoutes)
	positive(&c.RouteTimeout, d.RouteTimeout)
	// For these, a negative value means no limit (or no rate limit) and
	// only zero takes the default.
	nonZero(&c.MaxPresenceMembers, d.MaxPresenceMembers)
	nonZero(&c.MaxConnectionsPerUser, d.MaxConnectionsPerUser)
	nonZero(&c.PublishRate, d.PublishRate)
	nonZero(&c.ReadRate, d.ReadRate)
	nonZero(&c.JoinLeaveRate, d.JoinLeaveRate)
	nonZero(&c.MaxOutgoingBytes, d.MaxOutgoingBytes)
	nonZero(&c.NewChannelQuota, d.NewChannelQuota)
	nonZero(&c.NewRecipientQuota, d.NewRecipientQuota)
	if c.InboxPerSender == 0 {
		// A quarter of a small inbox would refuse ordinary bursts.
		c.InboxPerSender = max(c.Inbox.Size/4, min(c.Inbox.Size, 10), 1)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = NopObserver{}
	}
	ns := make(map[string]Namespace, len(c.Namespaces))
	for name, n := range c.Namespaces {
		n.Normalize()
		ns[name] = n
	}
	c.Namespaces = ns
}

type number interface {
	~int | ~int64 | ~float64
}

// positive sets *v to def unless it is positive.
func positive[T number](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// nonZero sets *v to def when it is zero.
func nonZero[T number](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}
