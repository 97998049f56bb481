package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// streamKind is a response's framing.
type streamKind uint8

const (
	kindSSE      streamKind = iota // server-sent events, JSON
	kindNDJSON                     // JSON, one message per line
	kindProtobuf                   // length-prefixed Protobuf
)

func (k streamKind) contentType() string {
	switch k {
	case kindSSE:
		return contentSSE
	case kindNDJSON:
		return contentNDJSON
	}
	return contentProtobuf
}

// errClosing is what a write after the connection began closing returns.
var errClosing = errors.New("stream: connection closing")

// errFailed is what a write after a failed one returns.
var errFailed = errors.New("stream: an earlier write failed")

// conn is one stream connection: the hub's Transport (the response is its
// write side), and the SessionSink of its POSTs.
//
// There is no close frame: the hub writes the disconnect push, then calls
// Close, which ends the handler's wait, and the handler returns, which ends
// the response.
type conn struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	kind    streamKind
	enc     protocol.Encoding
	session string
	client  *hub.Client
	// maxCommands bounds a POST's commands.
	maxCommands int

	// queue holds the POSTed frames accepted and not yet run, in order.
	queue chan []byte
	// stopped: no further frames reach the hub. ended: the handler has
	// ended, POSTs find no session.
	stopped atomic.Bool
	ended   atomic.Bool
	// closed is closed once Close has run.
	closed     chan struct{}
	closedOnce sync.Once

	// wmu serializes writes, and the handler's end with them.
	wmu       sync.Mutex
	done      bool // under wmu: the handler is returning; nothing writes
	closeSent bool // under wmu: the hub closed the connection
	failed    bool // under wmu: a write failed; the response is broken
	timeout   time.Duration
	deadline  time.Time // the write deadline last set
	// sse is the SSE framing state, for kindSSE only.
	sse *sseWriter
}

var (
	_ hub.SessionTransport = (*conn)(nil)
	_ hub.SessionSink      = (*conn)(nil)
)

func newConn(w http.ResponseWriter, kind streamKind, enc protocol.Encoding, connectID uint32, cfg Config) *conn {
	c := &conn{
		w:           w,
		rc:          http.NewResponseController(w),
		kind:        kind,
		enc:         enc,
		maxCommands: cfg.MaxFrameCommands,
		queue:       make(chan []byte, cfg.QueueLength),
		closed:      make(chan struct{}),
		timeout:     cfg.WriteTimeout,
	}
	if kind == kindSSE {
		c.sse = newSSEWriter(connectID)
	}
	return c
}

// Session returns the connection's session, for the connect reply.
func (c *conn) Session() string { return c.session }

// User returns the connection's user, for a POST's token check.
func (c *conn) User() string { return c.client.User() }

// Writes gives the hub the connection's write function; the hub's writers
// write on their goroutines.
func (c *conn) Writes() hub.Writes { return hub.Writes{Frame: c.writeFrame} }

// Deliver checks a POSTed frame and queues it for the handler, without
// waiting: 429 when the queue is full.
func (c *conn) Deliver(body []byte) hub.SessionResult {
	if c.ended.Load() || c.stopped.Load() {
		return hub.SessionResult{Status: hub.SessionNotFound}
	}
	err := c.enc.DecodeFrameLimit(body, c.maxCommands, c.noteCommand)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, protocol.ErrTooManyCommands) {
			msg = fmt.Sprintf("more than %d commands", c.maxCommands)
		}
		return hub.SessionResult{Status: hub.SessionMalformed, Message: msg}
	}
	select {
	case c.queue <- body:
		return hub.SessionResult{Status: hub.SessionAccepted}
	default:
		return hub.SessionResult{Status: hub.SessionFull}
	}
}

// noteCommand lets the SSE cursor learn which channel a subscribe's reply
// is for.
func (c *conn) noteCommand(cmd *protocol.Command) error {
	if c.sse != nil && cmd.Type == protocol.TypeSubscribe && cmd.ID != 0 {
		c.sse.expect(cmd.ID, cmd.Channel)
	}
	return nil
}

// run hands the POSTed frames to the hub, in order, until the hub closes
// the connection (it returns 0: the hub knows the code) or the client goes
// away (1006).
func (c *conn) run(ctx context.Context) protocol.CloseCode {
	for {
		select {
		case frame := <-c.queue:
			if !c.stopped.Load() {
				c.client.HandleFrame(frame)
			}
		case <-c.closed:
			return 0
		case <-ctx.Done():
			return protocol.CloseAbnormal
		}
	}
}

// end tells the hub the connection has ended; code 0 when the hub ended
// it. After end nothing writes to the response.
func (c *conn) end(code protocol.CloseCode) {
	c.ended.Store(true)
	c.stopped.Store(true)
	if code != 0 {
		// The code first, then no more writes: a write failing on the
		// gone connection must not record a code of its own.
		c.client.PeerClosed(code)
	}
	c.wmu.Lock()
	c.done = true
	c.wmu.Unlock()
	c.client.Closed()
}

// writeFrame writes the hub's frame on the response and flushes it.
func (c *conn) writeFrame(parts [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case c.done:
		return hub.ErrTransportClosed
	case c.closeSent:
		return errClosing
	case c.failed:
		return errFailed
	}
	c.moveDeadline()
	var err error
	switch c.kind {
	case kindSSE:
		err = c.sse.write(c.w, parts)
	case kindNDJSON:
		err = writeParts(c.w, parts)
		if err == nil {
			_, err = c.w.Write(newline)
		}
	default:
		err = writeParts(c.w, parts)
	}
	if err == nil {
		err = c.rc.Flush()
	}
	if err != nil {
		c.failed = true
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// A response cannot be written again after a timed-out
			// write: the client is a slow consumer, its 4001 is lost.
			return fmt.Errorf("%w: %w", hub.ErrStalled, err)
		}
		return err
	}
	return nil
}

// newline ends every JSON message of an HTTP stream.
var newline = []byte{'\n'}

// writeParts writes parts as they are: JSON messages with the newlines the
// hub put between them, or length-prefixed Protobuf messages.
func writeParts(w http.ResponseWriter, parts [][]byte) error {
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// moveDeadline keeps the write deadline ahead, moving it only when less
// than half of the timeout is left, as the other transports do. Called
// with wmu held.
func (c *conn) moveDeadline() {
	if now := time.Now(); c.deadline.Sub(now) < c.timeout/2 {
		c.deadline = now.Add(c.timeout)
		_ = c.rc.SetWriteDeadline(c.deadline)
	}
}

// Close ends the connection: the hub calls it once the disconnect push has
// been written (or could not be). The handler returns, which ends the
// response.
func (c *conn) Close(protocol.CloseCode, string) {
	c.stopped.Store(true)
	c.wmu.Lock()
	c.closeSent = true
	c.wmu.Unlock()
	c.closedOnce.Do(func() { close(c.closed) })
}
