package protocol

import "encoding/json"

// Command types a client may send.
const (
	TypeConnect       = "connect"
	TypeSubscribe     = "subscribe"
	TypeUnsubscribe   = "unsubscribe"
	TypePublish       = "publish"
	TypePresence      = "presence"
	TypePresenceStats = "presence_stats"
	TypeHistory       = "history"
	TypeSend          = "send"
	TypeRefresh       = "refresh"
	TypePong          = "pong"
)

// Push types the server sends without an id.
const (
	PushMessage       = "message"
	PushJoin          = "join"
	PushLeave         = "leave"
	PushDirect        = "direct"
	PushSubscribed    = "subscribed"
	PushUnsubscribed  = "unsubscribed"
	PushRefreshNeeded = "refresh_needed"
	PushPing          = "ping"
	PushDisconnect    = "disconnect"
)

// MaxCommandID is the largest id a command may carry.
const MaxCommandID = 1<<32 - 1

// StreamPosition is a place in a channel's or an inbox's stream.
type StreamPosition struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// SubscribeSince is one entry of a connect command's subs map.
type SubscribeSince struct {
	Since *StreamPosition `json:"since,omitempty"`
}

// Command is one client command. Its fields are the union of every command
// type's fields; which ones matter depends on Type. ID is 0 when the client
// sent none, and such a command gets no reply.
type Command struct {
	ID   uint32 `json:"id,omitempty"`
	Type string `json:"type"`

	// connect, refresh, subscribe (channel token)
	Token string `json:"token,omitempty"`
	// connect
	Name       string                    `json:"name,omitempty"`
	Version    string                    `json:"version,omitempty"`
	Subs       map[string]SubscribeSince `json:"subs,omitempty"`
	InboxSince *StreamPosition           `json:"inbox_since,omitempty"`

	// subscribe, unsubscribe, publish, presence, presence_stats, history
	Channel string `json:"channel,omitempty"`
	// subscribe, history
	Since *StreamPosition `json:"since,omitempty"`
	// history
	Limit   *int `json:"limit,omitempty"`
	Reverse bool `json:"reverse,omitempty"`

	// publish, send
	Data json.RawMessage `json:"data,omitempty"`
	// send
	User string `json:"user,omitempty"`
}

// ClientInfo identifies the connection behind a publication, a presence
// change or a direct message.
type ClientInfo struct {
	User   string `json:"user"`
	Client string `json:"client"`
}

// PresenceEntry is one connection in a channel's presence.
type PresenceEntry struct {
	User string          `json:"user"`
	Info json.RawMessage `json:"info,omitempty"`
}

// Publication is one message in a channel's or an inbox's stream, as the
// wire shows it. Data holds the published bytes; when they are not valid
// JSON, or nest deeper than MaxDepth, the JSON encoding shows them
// base64-encoded under "b64".
type Publication struct {
	Offset uint64      `json:"offset"`
	Data   []byte      `json:"-"`
	Info   *ClientInfo `json:"info,omitempty"`
	Time   int64       `json:"ts"`
	// JSON says Data is known to be valid JSON nested no deeper than
	// MaxDepth, checked once when it was published, which spares the JSON
	// encoder the check; false only means unknown.
	JSON bool `json:"-"`
	// MaxDepth is the deepest nesting of arrays and objects the JSON
	// encoding carries inline under "data": the server's configured limit.
	// 0 means DefaultMaxDataDepth.
	MaxDepth int `json:"-"`
}

// inline reports whether the JSON encoding carries p's data as a JSON value.
func (p *Publication) inline() bool {
	if p.JSON {
		return len(p.Data) > 0
	}
	depth := p.MaxDepth
	if depth <= 0 {
		depth = DefaultMaxDataDepth
	}
	return InlineJSON(p.Data, depth)
}

// ConnectResult is the result of connect.
type ConnectResult struct {
	Client  string                      `json:"client"`
	User    string                      `json:"user"`
	Ping    int                         `json:"ping"`
	Expires int64                       `json:"expires,omitempty"`
	Subs    map[string]*SubscribeResult `json:"subs,omitempty"`
	Inbox   *InboxResult                `json:"inbox,omitempty"`
	// Session names a stream connection (server-sent events, HTTP
	// streaming) for the POSTs that carry its commands; absent on the
	// other transports. A secret: only the connection's client sees it.
	Session string `json:"session,omitempty"`
}

// InboxResult is the inbox part of a connect result.
type InboxResult struct {
	Offset       uint64         `json:"offset"`
	Epoch        string         `json:"epoch"`
	Recovered    bool           `json:"recovered"`
	Publications []*Publication `json:"publications"`
	// More says the recovered publications did not all fit: the rest
	// follow as direct pushes, and Offset is the last one carried here.
	More bool `json:"more,omitempty"`
}

// SubscribeResult is the result of subscribe, and the body of a connect
// result's subs entries and of the subscribed push. Error is set only inside
// a connect result, for a channel that could not be subscribed.
type SubscribeResult struct {
	Offset       uint64         `json:"offset"`
	Epoch        string         `json:"epoch"`
	Recovered    *bool          `json:"recovered,omitempty"`
	Publications []*Publication `json:"publications,omitempty"`
	// More says the recovered publications did not all fit: the rest
	// follow as message pushes, and Offset is the last one carried here.
	More  bool   `json:"more,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// Position returns the stream position the result reports.
func (r *SubscribeResult) Position() StreamPosition {
	return StreamPosition{Offset: r.Offset, Epoch: r.Epoch}
}

// PublishResult is the result of publish and send.
type PublishResult struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// PresenceResult is the result of presence.
type PresenceResult struct {
	Clients map[string]PresenceEntry `json:"clients"`
}

// PresenceStatsResult is the result of presence_stats.
type PresenceStatsResult struct {
	Clients int `json:"clients"`
	Users   int `json:"users"`
}

// HistoryResult is the result of history.
type HistoryResult struct {
	Publications []*Publication `json:"publications"`
	Offset       uint64         `json:"offset"`
	Epoch        string         `json:"epoch"`
}

// RefreshResult is the result of refresh.
type RefreshResult struct {
	Expires int64 `json:"expires,omitempty"`
}

// EmptyResult is the result of commands that return nothing but success.
type EmptyResult struct{}
