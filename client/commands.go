package client

import (
	"context"
	"encoding/json"

	"github.com/heraldhq/herald/protocol"
)

// Publish publishes data (a JSON value; any bytes with Protobuf) to channel and returns its place in
// the channel's stream (offset 0 when the channel keeps no history). It
// waits for a connection if there is none.
func (c *Client) Publish(ctx context.Context, channel string, data []byte) (protocol.StreamPosition, error) {
	var res protocol.PublishResult
	err := c.call(ctx, &protocol.Command{Type: protocol.TypePublish, Channel: channel, Data: data}, &res)
	return protocol.StreamPosition(res), err
}

// Send sends data (a JSON value; any bytes with Protobuf) to every connection of user, and to their
// inbox while they are offline.
func (c *Client) Send(ctx context.Context, user string, data []byte) (protocol.StreamPosition, error) {
	var res protocol.PublishResult
	err := c.call(ctx, &protocol.Command{Type: protocol.TypeSend, User: user, Data: data}, &res)
	return protocol.StreamPosition(res), err
}

// Presence returns who is in channel, by client id.
func (c *Client) Presence(ctx context.Context, channel string) (map[string]protocol.PresenceEntry, error) {
	var res protocol.PresenceResult
	err := c.call(ctx, &protocol.Command{Type: protocol.TypePresence, Channel: channel}, &res)
	return res.Clients, err
}

// PresenceStats counts the clients and distinct users in channel.
func (c *Client) PresenceStats(ctx context.Context, channel string) (protocol.PresenceStatsResult, error) {
	var res protocol.PresenceStatsResult
	err := c.call(ctx, &protocol.Command{Type: protocol.TypePresenceStats, Channel: channel}, &res)
	return res, err
}

// HistoryOptions selects publications for History.
type HistoryOptions struct {
	// Limit caps the count; nil means everything retained.
	Limit *int
	// Since selects publications after a position.
	Since *protocol.StreamPosition
	// Reverse returns the newest first.
	Reverse bool
}

// History returns publications from channel's stream and its position.
func (c *Client) History(ctx context.Context, channel string, opts HistoryOptions) ([]*protocol.Publication, protocol.StreamPosition, error) {
	var res protocol.HistoryResult
	err := c.call(ctx, &protocol.Command{Type: protocol.TypeHistory, Channel: channel, Limit: opts.Limit, Since: opts.Since, Reverse: opts.Reverse}, &res)
	return res.Publications, protocol.StreamPosition{Offset: res.Offset, Epoch: res.Epoch}, err
}

// Do sends any command and returns its reply's result as JSON, whatever the
// encoding: for commands this package has no method for, and for tools that
// relay commands. The command's id is assigned by the client.
func (c *Client) Do(ctx context.Context, cmd *protocol.Command) (json.RawMessage, error) {
	cn, err := c.live(ctx)
	if err != nil {
		return nil, err
	}
	reply, err := cn.call(ctx, cmd, nil)
	if err != nil {
		return nil, err
	}
	return reply.ResultJSON()
}
