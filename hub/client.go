package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

// Transport is the connection a Client talks through; the server's WebSocket
// layer implements it. The hub never sees HTTP or WebSocket framing.
type Transport interface {
	// Writes returns the functions that put the connection's frames on the
	// wire; NewClient calls it once. A write returns ErrTransportClosed
	// when the connection is already ending on the transport's side (the
	// peer's close frame arrived): the transport then reports the peer's
	// code through PeerClosed and Closed itself; ErrStalled when the peer
	// stopped reading.
	Writes() Writes
	// Close sends a close frame with code and reason and ends the connection.
	// It may be called more than once and concurrently with the writes.
	Close(code protocol.CloseCode, reason string)
}

// Writes are the write functions a Transport gives: Frame, and TryFrame
// with Flush for a transport that can write without waiting. Their rules
// are outbound.Writes'.
type Writes = outbound.Writes

// ErrStalled is what a write's error wraps when the peer stopped
// reading for the transport's write timeout: the client is a slow
// consumer, and its connection ends with 4001.
var ErrStalled = errors.New("hub: peer stopped reading")

// ErrTransportClosed is what a write returns for a connection the peer
// is closing: the write is dropped without choosing a close code, because
// the peer's is the one to record.
var ErrTransportClosed = errors.New("hub: transport closed")

type clientState uint8

const (
	stateConnecting clientState = iota // waiting for the connect command
	stateConnected                     // connect succeeded
	stateClosed                        // gone; every method is a no-op
)

// Client is one connection's session: it decodes commands, runs them against
// the hub and the broker, and owns the connection's outgoing side.
//
// HandleFrame must be called for one frame at a time, in order (by the
// transport's reader, which may hand that role from goroutine to goroutine
// as long as each call happens before the next); everything else may be
// called from any goroutine.
type Client struct {
	hub *Hub
	t   Transport
	id  string
	out outbound.Conn
	// peer is what the transport knew before connect; its Header is
	// dropped once connect has used it, its Remote kept for the logs.
	peer Peer

	// Owned by the reader goroutine. The publish and read buckets are
	// created on first use.
	commands       commandBucket
	publishLimiter *rate.Limiter
	readLimiter    *rate.Limiter
	// strikes is an int32 and enc sits here, beside the other small
	// fields, and awaitPong and beatPing beside state, so that a Client
	// packs into 576 bytes, one allocation size class below 640: 64 bytes
	// of every connection.
	strikes int32

	// closeCode is the close code the connection ended with, for metrics:
	// the first of the server's and the peer's, 0 while open.
	closeCode atomic.Uint32
	enc       protocol.Encoding

	mu            sync.Mutex // guards the fields below, up to closeOnce
	state         clientState
	awaitPong     bool
	noPong        bool // a SessionTransport's client: pings await no pong
	user          string
	connInfo      json.RawMessage
	channelsClaim []string             // the token's channels claim
	expiresAt     int64                // unix seconds, 0 when the token has no exp
	subs          subSet               // by channel
	inbox         *subscription        // nil for anonymous connections
	expiry        *time.Timer          // refresh_needed, then token expiry
	closing       *protocol.Disconnect // set by the first Disconnect
	closeOnce     sync.Once

	// The heartbeat wheel's (heartbeat.go), guarded by its mu: the tick of
	// the client's slot (or beatIdle, beatFiring), whether it waits for a
	// ping there, and its neighbours in the slot.
	beatPing           bool
	beatAt             int64
	beatNext, beatPrev *Client
}

// newClientID returns a random, URL-safe, 22-character id.
func newClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Peer is what the transport knows about a connection before its first
// command, for logs and for authentication that does not come from a token.
type Peer struct {
	// Remote is the peer's address (ip:port).
	Remote string
	// Header holds the connection's request headers that a connect proxy
	// forwards (cookies among them), by canonical name, as the transport
	// found them; nil when none is configured. A plain map: the hub reads
	// no HTTP, it only hands these on. It lets go of them after connect.
	Header map[string][]string
	// CertUser is the user id a verified TLS client certificate names,
	// when the server is configured to take it; "" otherwise.
	CertUser string
}

// NewClient registers a new connection that has not sent connect yet. enc
// is the encoding the connection negotiated.
func (h *Hub) NewClient(t Transport, enc protocol.Encoding, peer Peer) *Client {
	c := &Client{
		hub:  h,
		t:    t,
		enc:  enc,
		id:   newClientID(),
		peer: peer,
	}
	_, c.noPong = t.(SessionTransport)
	out := outbound.Config{
		Writes:      t.Writes(),
		Events:      (*clientEvents)(c),
		MaxMessages: h.cfg.WriteQueueMessages,
		MaxBytes:    h.cfg.WriteQueueBytes,
		Separator:   enc.Separator(),
		Tracker:     &h.writers,
	}
	if h.budget != nil { // a nil *outgoingBudget would be a non-nil Budget
		out.Budget = h.budget
	}
	c.out.Init(out)
	h.clients.add(c)
	h.obs.ConnectionOpened()
	h.beats.set(c, h.cfg.ConnectTimeout, false)
	// Added after Shutdown took its list of clients (the transport's
	// handshake was under way): told to reconnect elsewhere at once, or
	// it would hold up the drain until its deadline.
	if h.draining.Load() {
		c.Disconnect(disconnectShutdown)
	}
	return c
}

// ID returns the client's unique id.
func (c *Client) ID() string { return c.id }

// User returns the authenticated user id, "" before connect or for anonymous
// connections.
func (c *Client) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// logger returns the hub's logger with the connection's fields: client,
// user ("" before connect and for anonymous connections) and remote, so
// every line about a connection can be found by any of them. It takes c.mu:
// never call it with c.mu held.
func (c *Client) logger() *slog.Logger {
	return c.hub.log.With("client", c.id, "user", c.User(), "remote", c.peer.Remote)
}

// HandleFrame runs every command in one frame, in order. A malformed frame,
// or one that batches more than MaxFrameCommands commands, closes the
// connection with 4500.
func (c *Client) HandleFrame(frame []byte) {
	c.hub.obs.FrameReceived(c.enc, len(frame))
	c.out.Cork()
	err := c.enc.DecodeFrameLimit(frame, c.hub.cfg.MaxFrameCommands, c.handleCommand)
	c.out.Uncork()
	if err == nil {
		return
	}
	var d protocol.Disconnect
	switch {
	case errors.Is(err, errStop):
	case errors.Is(err, protocol.ErrTooManyCommands):
		c.Disconnect(protocol.NewDisconnect(protocol.CloseBadRequest, "too many commands in one frame"))
	case errors.As(err, &d):
		c.Disconnect(d)
	case errors.Is(err, protocol.ErrMalformed):
		c.logger().Debug("malformed frame", "err", err)
		c.Disconnect(protocol.NewDisconnect(protocol.CloseBadRequest, "malformed command"))
	default:
		c.Disconnect(protocol.DisconnectInternal)
	}
}

// errStop ends frame processing without a further disconnect: the command
// already arranged for one.
var errStop = errors.New("stop")

func (c *Client) handleCommand(cmd *protocol.Command) error {
	c.hub.obs.CommandReceived(c.enc, cmd.Type)
	c.mu.Lock()
	state, closing := c.state, c.closing != nil
	c.mu.Unlock()
	switch {
	case state == stateClosed || closing:
		return errStop
	case state == stateConnecting:
		if cmd.Type != protocol.TypeConnect {
			return protocol.NewDisconnect(protocol.CloseBadRequest, "first command must be connect")
		}
		return c.handleConnect(cmd)
	}
	if cmd.Type == protocol.TypePong {
		c.onPong()
		return nil
	}
	limited := protocol.ErrTooManyRequests
	if c.allowCommand() {
		limited = c.checkRate(cmd)
	} else {
		c.hub.obs.RateLimited(LimitCommand)
	}
	if limited != nil {
		c.strikes++
		if int(c.strikes) >= c.hub.cfg.RateLimitStrikes {
			return protocol.DisconnectRateLimited
		}
		c.replyError(cmd.ID, limited)
		return nil
	}
	c.strikes = 0
	// A client whose replies pile up is read no further until they drain:
	// it cannot make the node hold more for it than its queue allows. A
	// history reply may fill the queue alone: it waits for an empty one.
	if cmd.Type == protocol.TypeHistory {
		c.awaitDrain(0)
		// Nor is a history reply built while the node holds more than it
		// should for its connections: it would only make someone be cut.
		c.hub.budget.waitRoom(c.hub.sleep, c.out.Ending)
	} else {
		c.awaitDrain(c.hub.cfg.WriteQueueBytes / 2)
	}
	ctx, cancel := c.hub.brokerContext()
	defer cancel()
	var (
		result protocol.Result
		err    error
		acts   []activation
	)
	switch cmd.Type {
	case protocol.TypeConnect:
		err = protocol.NewError(protocol.CodeBadRequest, "already connected")
	case protocol.TypeSubscribe:
		var act activation
		budget := c.hub.replyBudget()
		result, act, err = c.subscribe(ctx, cmd.Channel, cmd.Token, cmd.Since, false, &budget)
		if err == nil {
			acts = []activation{act}
		}
	case protocol.TypeUnsubscribe:
		result, err = c.unsubscribe(ctx, cmd.Channel)
	case protocol.TypePublish:
		result, err = c.publish(ctx, cmd)
	case protocol.TypePresence:
		result, err = c.presence(ctx, cmd.Channel)
	case protocol.TypePresenceStats:
		result, err = c.presenceStats(ctx, cmd.Channel)
	case protocol.TypeHistory:
		result, err = c.history(ctx, cmd)
	case protocol.TypeSend:
		result, err = c.send(ctx, cmd)
	case protocol.TypeRefresh:
		result, err = c.refresh(cmd.Token)
	default:
		// The reply tells the client which command; the close follows the
		// close-code table (4500 for an unknown type).
		c.replyError(cmd.ID, protocol.ErrUnknownCommand)
		return protocol.NewDisconnect(protocol.CloseBadRequest, "unknown command type")
	}
	var d protocol.Disconnect
	if errors.As(err, &d) {
		return d
	}
	if err != nil {
		c.replyError(cmd.ID, toProtocolError(err))
		return nil
	}
	msg, ok := c.encodeReply(cmd, result)
	if !ok {
		c.undo(ctx, acts)
		return nil
	}
	c.awaitRoom(len(msg))
	c.queueActivating(msg, acts)
	return nil
}

// toProtocolError maps any error to the one the client sees. Errors that are
// not protocol errors are internal: logged, never shown.
func toProtocolError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.ErrInternal
}

// MaxReplySize is the largest reply the server API sends (a long history);
// a larger one is refused with error 106 so the caller can ask again with a
// limit. Client replies are bounded by the write queue instead.
const MaxReplySize = 16 << 20

var errReplyTooLarge = protocol.NewError(protocol.CodeLimitExceeded, "reply too large: use limit")

// encodeReply encodes a command's result reply. It returns nil for a
// command without an id, which gets no reply. ok is false when the reply
// cannot be sent; an error reply is then queued instead, and whatever the
// command set up for the reply to announce must be undone.
func (c *Client) encodeReply(cmd *protocol.Command, result protocol.Result) (msg []byte, ok bool) {
	id := cmd.ID
	if id == 0 {
		return nil, true
	}
	msg, err := c.enc.AppendReply(make([]byte, 0, replySizeHint(result)), id, cmd.Type, result)
	if err != nil {
		c.logger().Error("encode reply", "err", err)
		c.replyError(id, protocol.ErrInternal)
		return nil, false
	}
	if len(msg) > c.hub.cfg.WriteQueueBytes {
		c.replyError(id, errReplyTooLarge)
		return nil, false
	}
	c.hub.obs.Queued(c.enc, KindReply, 1)
	return msg, true
}

// replySizeHint is the buffer a reply starts with: enough for the
// publications of a history or subscribe result, so that a reply of
// megabytes is not built by doubling its buffer a dozen times.
func replySizeHint(result protocol.Result) int {
	var pubs []*protocol.Publication
	switch r := result.(type) {
	case *protocol.HistoryResult:
		pubs = r.Publications
	case *protocol.SubscribeResult:
		pubs = r.Publications
	default:
		return 0
	}
	n := 128
	for _, p := range pubs {
		n += len(p.Data) + 96
	}
	return n
}

// activation is a subscription to let through from the position its
// subscribe reply carries; more says the reply left publications out, to
// be caught up.
type activation struct {
	sub  *subscription
	pos  protocol.StreamPosition
	more bool
}

// undo removes the subscriptions of acts, whose reply could not be sent:
// a client must never be subscribed to something it was not told of.
func (c *Client) undo(ctx context.Context, acts []activation) {
	for _, a := range acts {
		if a.sub.channel == "" {
			a.sub.remove() // the inbox: registered with the user, not a channel
			continue
		}
		c.dropSub(a.sub)
		c.hub.removeSubscription(ctx, a.sub)
	}
}

// awaitDrain waits, on the reader's goroutine, until the write queue holds
// at most level bytes (queued and being written), letting the writer go
// first, since the wait needs it.
func (c *Client) awaitDrain(level int) {
	room := c.hub.cfg.WriteQueueBytes - level
	if c.out.HasRoom(room) {
		return
	}
	c.out.Uncork()
	c.out.WaitRoom(1, room)
}

// awaitRoom waits, on the reader's goroutine, until a message of size
// bytes fits the write queue: a client's own requests are held back (it
// sends no more until it reads) rather than letting its replies overflow
// the queue. The writer is let go first, since the wait needs it. What
// waits counts as the queue's meanwhile, so that the node's outgoing
// budget sees it, and a cut ends the wait.
func (c *Client) awaitRoom(size int) {
	if size == 0 || c.out.HasRoom(size) {
		return
	}
	c.out.Uncork()
	c.out.Reserve(size)
	c.out.WaitRoom(1, size)
	c.out.Reserve(-size)
}

// queueActivating queues msg (a reply or push carrying the positions in
// acts; nil for none) followed by what each subscription held back, as one
// unit, and makes the subscriptions live, or starts their catch-up. One
// unit, because a Disconnect (shutdown, the server API) may come from
// another goroutine at any moment: it must fall before all of it or after
// all of it, never between a subscribe reply and publications the client
// was promised after it.
func (c *Client) queueActivating(msg []byte, acts []activation) {
	if len(acts) == 0 {
		if msg != nil {
			c.enqueue(msg)
		}
		return
	}
	// Only this goroutine holds several subscriptions' locks at once;
	// delivery takes one at a time, so the order cannot deadlock.
	for _, a := range acts {
		a.sub.mu.Lock()
	}
	unit := make([]outbound.Entry, 0, 1+len(acts))
	if msg != nil {
		unit = append(unit, outbound.Entry{Msg: msg, Private: true})
	}
	var catchUps []*subscription
	var lost, gap bool
	for _, a := range acts {
		var catchUp, l, g bool
		unit, catchUp, l, g = a.sub.activate(a.pos, a.more, unit)
		if catchUp {
			catchUps = append(catchUps, a.sub)
		}
		lost, gap = lost || l, gap || g
	}
	res := c.out.PushAll(unit)
	for _, a := range acts {
		a.sub.mu.Unlock()
	}
	switch {
	case res == outbound.Overflowed:
		c.slowConsumer()
	case res == outbound.Dropped:
	case lost:
		// Pushes of a channel without history were dropped while the reply
		// was being built: nothing can give them back.
		c.slowConsumer()
	case gap:
		c.Disconnect(disconnectContinuityLost)
	default:
		for _, s := range catchUps {
			c.hub.startCatchUp(s)
		}
	}
}

func (c *Client) replyError(id uint32, e *protocol.Error) {
	if id == 0 {
		return
	}
	c.enqueue(c.enc.AppendErrorReply(nil, id, e))
	c.hub.obs.Queued(c.enc, KindReply, 1)
}

// enqueue queues an encoded message built for this client. A full queue
// disconnects the client as a slow consumer: skipping the message would
// break the no-gap promise.
func (c *Client) enqueue(msg []byte) {
	if c.out.Push(msg) == outbound.Overflowed {
		c.slowConsumer()
	}
}

// slowConsumer disconnects a client whose queue overflowed. The queue has
// failed already, so nothing but the disconnect reaches the client from
// now on, whoever pushes next.
func (c *Client) slowConsumer() {
	c.hub.metrics.slowConsumers.Add(1)
	c.hub.obs.SlowConsumer()
	c.Disconnect(protocol.DisconnectSlowConsumer)
}

// clientEvents is a Client as its outbound.Conn's owner: the Conn reports
// to it from the writer.
type clientEvents Client

// FrameWritten feeds the metrics.
func (e *clientEvents) FrameWritten(st outbound.FrameStats) {
	c := (*Client)(e)
	c.hub.obs.FrameWritten(c.enc, st.Bytes, st.Messages, st.Depth, st.Oldest)
}

// Drained closes the connection once its final message has been written.
func (e *clientEvents) Drained() { (*Client)(e).finishClose() }

// WriteFailed ends the connection after a failed write.
func (e *clientEvents) WriteFailed(err error) { (*Client)(e).writeFailed(err) }

// writeFailed ends the connection after a failed write; the Conn has
// closed itself.
func (c *Client) writeFailed(err error) {
	if errors.Is(err, ErrTransportClosed) {
		return
	}
	if errors.Is(err, ErrStalled) {
		// The close frame still goes out behind the unfinished frame, if
		// the peer reads again soon: with the code already decided, or
		// 4001.
		d := protocol.DisconnectSlowConsumer
		c.mu.Lock()
		if c.closing == nil {
			c.hub.metrics.slowConsumers.Add(1)
			c.hub.obs.SlowConsumer()
			c.pendingClose(d)
		}
		d = *c.closing
		c.mu.Unlock()
		c.closeTransport(d.Code, d.Reason)
		return
	}
	// A disconnect already decided (4001 for a slow consumer) is what ended
	// the connection, though its close frame is lost.
	c.mu.Lock()
	if c.closing != nil {
		c.closeCode.CompareAndSwap(0, uint32(c.closing.Code))
	}
	c.mu.Unlock()
	c.closeTransport(protocol.CloseGoingAway, "write failed")
}

// Disconnect ends the connection gracefully: it queues a disconnect push
// after everything already queued, and the writer closes the connection with
// the same code once the queue is drained. Safe to call more than once; the
// first call wins.
func (c *Client) Disconnect(d protocol.Disconnect) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.pendingClose(d)
	c.mu.Unlock()
	if c.out.PushFinal(c.enc.AppendDisconnectPush(nil, d)) {
		c.hub.obs.Queued(c.enc, protocol.PushDisconnect, 1)
	}
}

// pendingClose records the close code the writer uses once drained. Called
// with c.mu held.
func (c *Client) pendingClose(d protocol.Disconnect) {
	if c.closing == nil {
		dd := d
		c.closing = &dd
	}
}

// finishClose runs on the writer once the final message has been written.
func (c *Client) finishClose() {
	c.mu.Lock()
	d := protocol.DisconnectInternal
	if c.closing != nil {
		d = *c.closing
	}
	c.mu.Unlock()
	c.closeTransport(d.Code, d.Reason)
}

// closeTransport closes the connection with code, recording the code.
func (c *Client) closeTransport(code protocol.CloseCode, reason string) {
	c.closeCode.CompareAndSwap(0, uint32(code))
	c.t.Close(code, reason)
}

// PeerClosed records the close code the peer sent (protocol.CloseAbnormal when it
// sent none), unless the server closed first. The transport calls it before
// Closed.
func (c *Client) PeerClosed(code protocol.CloseCode) {
	c.closeCode.CompareAndSwap(0, uint32(code))
}

// Closed tells the client its connection is gone, however it ended. It
// removes the client from the hub and the broker's presence. Safe to call
// more than once.
func (c *Client) Closed() {
	c.closeOnce.Do(c.cleanup)
}

func (c *Client) cleanup() {
	c.mu.Lock()
	c.state = stateClosed
	c.hub.beats.remove(c)
	if c.expiry != nil {
		c.expiry.Stop()
	}
	subs := c.subs.take()
	user, hasInbox := c.user, c.inbox != nil
	c.mu.Unlock()
	c.out.Close()

	// Not cut short by Shutdown: a client closed by the drain still
	// leaves the broker's presence.
	ctx, cancel := c.hub.cleanupContext()
	defer cancel()
	for _, s := range subs {
		c.hub.removeSubscription(ctx, s)
	}
	code := protocol.CloseCode(c.closeCode.Load())
	if code == 0 {
		code = protocol.CloseAbnormal
	}
	c.logger().Debug("client disconnected", "code", int(code))
	c.hub.obs.ConnectionClosed(code)
	c.hub.clients.remove(c)
	if hasInbox {
		c.hub.users.remove(user, c)
	}
	c.hub.clientClosed()
}
