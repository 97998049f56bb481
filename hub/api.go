package hub

import (
	"context"
	"strings"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/protocol"
)

// The methods in this file are what the server API does. They run with the
// server's authority: no client permission checks, but the same channel
// rules (107 for a bad name, 102 for an unknown namespace, 108 when the
// namespace keeps no history or presence). Errors are *protocol.Error.

var disconnectShutdown = protocol.DisconnectShutdown

// Publish publishes data to a channel on behalf of the server.
func (h *Hub) Publish(ctx context.Context, channel string, data []byte, idempotencyKey string) (protocol.PublishResult, error) {
	ns, err := h.namespace(channel)
	if err != nil {
		return protocol.PublishResult{}, err
	}
	return h.publish(ctx, channel, ns, &broker.Publication{Data: data}, idempotencyKey)
}

// Send sends data to a user's inbox and live connections, from the server.
func (h *Hub) Send(ctx context.Context, user string, data []byte) (protocol.PublishResult, error) {
	if user == "" {
		return protocol.PublishResult{}, protocol.NewError(protocol.CodeBadRequest, "user required")
	}
	return h.send(ctx, user, data, &broker.ClientInfo{})
}

// Presence returns a channel's presence.
func (h *Hub) Presence(ctx context.Context, channel string) (*protocol.PresenceResult, error) {
	ns, err := h.namespace(channel)
	if err != nil {
		return nil, err
	}
	if !ns.Presence {
		return nil, protocol.ErrNotAvailable
	}
	return h.presence(ctx, channel)
}

// PresenceStats counts a channel's presence.
func (h *Hub) PresenceStats(ctx context.Context, channel string) (*protocol.PresenceStatsResult, error) {
	ns, err := h.namespace(channel)
	if err != nil {
		return nil, err
	}
	if !ns.Presence {
		return nil, protocol.ErrNotAvailable
	}
	return h.presenceStats(ctx, channel)
}

// History reads a channel's stream.
func (h *Hub) History(ctx context.Context, channel string, limit *int, since *protocol.StreamPosition, reverse bool) (*protocol.HistoryResult, error) {
	ns, err := h.namespace(channel)
	if err != nil {
		return nil, err
	}
	if !ns.KeepsHistory() {
		return nil, protocol.ErrNotAvailable
	}
	return h.history(ctx, channel, ns, limit, since, reverse, MaxReplySize)
}

// RemoveHistory drops a channel's stream; its epoch changes. Every node
// then closes the channel's subscribers at once with 4000 (see
// opHistoryRemoved): a message push carries no epoch, so none of them could
// follow the new stream, and each learns of the loss from recovered: false
// when it resubscribes. An error after the stream was dropped (the notice
// could not be sent) is still an error: the call may be repeated, and a
// subscriber not told meets the new epoch at the channel's next publication.
func (h *Hub) RemoveHistory(ctx context.Context, channel string) error {
	ns, err := h.namespace(channel)
	if err != nil {
		return err
	}
	if err := h.broker.RemoveHistory(ctx, channel); err != nil {
		h.log.Error("broker remove history", "channel", channel, "err", err)
		return protocol.ErrInternal
	}
	if !ns.KeepsHistory() {
		return nil // no stream, no position a subscriber could lose
	}
	return h.sendControl(ctx, historyRemoved{Channel: channel})
}

// SubscribeUser subscribes every connection of user, on every node, to
// channel; each gets a subscribed push.
func (h *Hub) SubscribeUser(ctx context.Context, user, channel string) error {
	if _, err := h.namespace(channel); err != nil {
		return err
	}
	return h.sendControl(ctx, subscribeUser{User: user, Channel: channel})
}

// UnsubscribeUser unsubscribes every connection of user from channel; each
// gets an unsubscribed push.
func (h *Hub) UnsubscribeUser(ctx context.Context, user, channel string) error {
	if !ValidChannel(channel) {
		return protocol.NewError(protocol.CodeBadRequest, "invalid channel name")
	}
	return h.sendControl(ctx, unsubscribeUser{User: user, Channel: channel})
}

// DisconnectUser closes every connection of user with d.
func (h *Hub) DisconnectUser(ctx context.Context, user string, d protocol.Disconnect) error {
	return h.sendControl(ctx, disconnectUser{User: user, Code: d.Code, Reason: d.Reason})
}

// Channels returns the active channels on this node matching pattern ("" or
// "*" for all; "*" in a pattern matches any run of characters) with their
// subscriber counts.
func (h *Hub) Channels(pattern string) map[string]int {
	var match func(string) bool
	if pattern != "" && pattern != "*" {
		match = func(ch string) bool { return globMatch(pattern, ch) }
	}
	return h.channels.counts(match)
}

// NodeInfo describes this node for the info API.
//
// Published and Delivered are cumulative since the node started, so a
// reader computes rates from two readings (a restart shows as a drop: start
// over from the new value).
type NodeInfo struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Uptime   int64  `json:"uptime"`
	Clients  int    `json:"clients"`
	Users    int    `json:"users"`
	Channels int    `json:"channels"`
	Subs     int    `json:"subs"`
	// Published counts publications accepted through this node (client
	// publish commands and the server API).
	Published int64 `json:"published"`
	// Delivered counts channel publications and direct messages handed to
	// this node's connections, once per receiving connection.
	Delivered int64 `json:"delivered"`
}

// Info describes this node.
func (h *Hub) Info() NodeInfo {
	return NodeInfo{
		Name:     h.cfg.NodeName,
		Version:  h.cfg.Version,
		Uptime:   int64(time.Since(h.started).Seconds()),
		Clients:  h.clients.count(),
		Users:    h.users.count(),
		Channels: int(h.channels.n.Load()),
		Subs:     int(h.channels.subs.Load()),

		Published: h.metrics.published.Load(),
		Delivered: h.metrics.delivered.Load(),
	}
}

// Stats are the hub's counters since it started.
type Stats struct {
	// SlowConsumers counts clients disconnected because their queue overflowed.
	SlowConsumers int64
	// Published counts publications accepted through this node.
	Published int64
	// OutgoingBytes is what the node holds now of replies and recovery
	// pages, queued or being written, against Config.MaxOutgoingBytes (0
	// when that is off).
	OutgoingBytes int64
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	st := Stats{SlowConsumers: h.metrics.slowConsumers.Load(), Published: h.metrics.published.Load()}
	if h.budget != nil {
		st.OutgoingBytes = h.budget.used.Load()
	}
	return st
}

// globMatch matches s against a pattern in which "*" stands for any run of
// characters and everything else for itself.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
