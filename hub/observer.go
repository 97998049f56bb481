package hub

import "github.com/heraldhq/herald/protocol"

// Observer receives the hub's measurements; package metrics turns them into
// Prometheus metrics, and the hub itself depends on no metrics library.
//
// The methods run on hot paths (readers, writers, fan-out), concurrently:
// they must not block and should neither allocate nor lock. The hub calls
// them per command, per frame written and per push fanned out (with a
// count), never once per subscriber of a push.
type Observer interface {
	// ConnectionOpened is a new connection, before its connect command.
	ConnectionOpened()
	// ConnectionClosed is a connection gone, with the close code the server
	// sent, else the one the peer sent, else protocol.CloseAbnormal (1006: the
	// connection dropped without a close frame).
	ConnectionClosed(code protocol.CloseCode)
	// FrameReceived is a client frame of size bytes.
	FrameReceived(enc protocol.Encoding, size int)
	// CommandReceived is one client command. typ is what the client sent,
	// any string: an implementation must map unknown types to one value.
	CommandReceived(enc protocol.Encoding, typ string)
	// Queued is n messages of one kind queued to connections of encoding
	// enc: a push type (protocol.PushMessage, ...) or KindReply.
	Queued(enc protocol.Encoding, kind string, n int)
	// FrameWritten is one frame handed to the transport: its size, the
	// messages packed in it, the messages that were queued when the writer
	// took them (the queue's depth), and the Time of the oldest live
	// publication in it (unix milliseconds; 0 when it holds none).
	FrameWritten(enc protocol.Encoding, size, messages, depth int, pubTime int64)
	// SlowConsumer is a connection disconnected because its write queue
	// overflowed (4001).
	SlowConsumer()
	// RateLimited is a command or connection refused by limit, or a join
	// or leave push held back (LimitJoinLeave).
	RateLimited(limit Limit)
}

// KindReply is the Observer.Queued kind of command replies (results and
// errors), which are not pushes.
const KindReply = "reply"

// Limit names a rate limit, for Observer.RateLimited.
type Limit uint8

// The rate limits. LimitConnectIP is the server's; the others the hub's.
const (
	LimitCommand       Limit = iota // a connection's command rate
	LimitPublish                    // a connection's publish and send rate
	LimitRead                       // a connection's presence and history rate
	LimitChannel                    // a namespace's per-channel publish rate
	LimitConnectIP                  // new connections per remote address
	LimitNewChannels                // a user's quota of new channel streams
	LimitNewRecipients              // a user's quota of new inboxes
	LimitInboxSender                // one sender's messages to one inbox
	LimitJoinLeave                  // a channel's join and leave pushes, held back
	NumLimits                       // the number of limits, for arrays
)

var limitNames = [NumLimits]string{"command", "publish", "read", "channel", "connect_ip", "new_channels", "new_recipients", "inbox_sender", "join_leave"}

// String returns the limit's name as metrics label it.
func (l Limit) String() string {
	if l < NumLimits {
		return limitNames[l]
	}
	return "unknown"
}

// NopObserver discards every measurement; it is the hub's default.
type NopObserver struct{}

var _ Observer = NopObserver{}

// ConnectionOpened does nothing.
func (NopObserver) ConnectionOpened() {}

// ConnectionClosed does nothing.
func (NopObserver) ConnectionClosed(protocol.CloseCode) {}

// FrameReceived does nothing.
func (NopObserver) FrameReceived(protocol.Encoding, int) {}

// CommandReceived does nothing.
func (NopObserver) CommandReceived(protocol.Encoding, string) {}

// Queued does nothing.
func (NopObserver) Queued(protocol.Encoding, string, int) {}

// FrameWritten does nothing.
func (NopObserver) FrameWritten(protocol.Encoding, int, int, int, int64) {}

// SlowConsumer does nothing.
func (NopObserver) SlowConsumer() {}

// RateLimited does nothing.
func (NopObserver) RateLimited(Limit) {}
