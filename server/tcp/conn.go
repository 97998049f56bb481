package tcp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/burst"
	"github.com/heraldhq/herald/internal/sockwrite"
	"github.com/heraldhq/herald/protocol"
)

// closeTimeout is how long a closing connection waits for its peer to close
// too (after the server shut its write side), and how long a peer that
// stopped reading gets to take its last frame and the disconnect push.
const closeTimeout = 5 * time.Second

// errClosing is what a write after the connection began closing returns.
var errClosing = errors.New("tcp: connection closing")

// conn is one client connection: the hub's Transport on the write side,
// and the reader (reader.go) on the read side.
//
// TCP has no close frame, so a connection ends with the protocol's
// disconnect push, then a half-close: the server shuts its write side
// (FIN, or TLS close_notify) and reads on, discarding, until the peer
// closes or closeTimeout passes. Closing at once could reset the connection
// while the peer still had bytes in flight, and a reset can destroy the
// push before the peer reads it.
type conn struct {
	raw         net.Conn
	enc         protocol.Encoding
	maxMessage  int
	maxCommands int
	client      *hub.Client
	// poll, for a socket that can be polled, lets a waiter wait for bytes
	// without a read, and bursts runs what follows (reader.go).
	poll   syscall.RawConn
	bursts *burst.Pool
	// ended is called once the connection has ended.
	ended func()

	stopped  atomic.Bool // no further messages reach the hub
	readDone atomic.Bool // reading has ended: the connection is gone
	once     sync.Once   // the half-close or the final close, whichever first
	// closed is closed once Close or Abort has run.
	closed     chan struct{}
	closedOnce sync.Once

	// wmu serializes writes: the hub's writer and the close.
	wmu       sync.Mutex
	closeSent bool // under wmu: the close has begun
	// w is the socket's write deadline and what a stalled write left,
	// under wmu (Failed is read without it): after a stall, w.Pending
	// holds the rest of the frame, which the disconnect push must follow.
	w sockwrite.State
	// vec is the vector of the last write, kept for its backing array.
	vec net.Buffers
}

var (
	_ hub.Transport = (*conn)(nil)
	_ hub.Aborter   = (*conn)(nil)
)

func newConn(raw net.Conn, enc protocol.Encoding, cfg Config) *conn {
	_, isTLS := raw.(*tls.Conn)
	c := &conn{
		raw:         raw,
		enc:         enc,
		maxMessage:  cfg.MaxMessageSize,
		maxCommands: cfg.MaxFrameCommands,
		closed:      make(chan struct{}),
	}
	c.w.Timeout, c.w.Resumable = cfg.WriteTimeout, !isTLS
	return c
}

// Writes gives the hub the connection's write function. There is no
// TryFrame: the hub's writers write TCP connections on their goroutines.
func (c *conn) Writes() hub.Writes { return hub.Writes{Frame: c.writeFrame} }

// newline ends every JSON message on the stream.
var newline = []byte{'\n'}

// appendTerminated appends one frame's bytes as they go on the stream:
// msg, then a newline for JSON (whose frames join their messages with
// newlines already), nothing for Protobuf (whose messages carry their
// length).
func appendTerminated(dst []byte, enc protocol.Encoding, msg []byte) []byte {
	dst = append(dst, msg...)
	if !enc.Binary() {
		dst = append(dst, '\n')
	}
	return dst
}

// writeFrame writes the hub's frame, parts concatenated, on the stream.
func (c *conn) writeFrame(parts [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case c.readDone.Load():
		// The peer ended the connection; the reader reports how.
		return hub.ErrTransportClosed
	case c.closeSent:
		return errClosing
	case c.w.Stalled:
		// Only the disconnect push may follow the unfinished frame.
		return hub.ErrStalled
	}
	if err := c.w.Flush(c.raw); err != nil {
		return err
	}
	c.w.MoveDeadline(c.raw)
	if !c.w.Resumable {
		// One write, one TLS record where it fits: a vector would make a
		// record of every message.
		b := make([]byte, 0, frameSize(parts)+1)
		for _, p := range parts {
			b = append(b, p...)
		}
		b = appendTerminated(b, c.enc, nil)
		if _, err := c.raw.Write(b); err != nil {
			return c.w.Fail(err, nil)
		}
		return nil
	}
	// One vectored write (writev), copying nothing.
	vec := append(c.vec[:0], parts...)
	if !c.enc.Binary() {
		vec = append(vec, newline)
	}
	c.vec = vec[:0]
	w := vec
	_, err := w.WriteTo(c.raw)
	// w holds what was not written; vec's array must not keep the parts.
	rest := w
	if err != nil {
		err = c.w.Fail(err, rest)
	}
	clear(vec)
	return err
}

func frameSize(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// Close ends the connection. The hub calls it once the disconnect push has
// been written; after a stalled write, whose queue could not write the
// push, Close writes the rest of the frame and the push itself, giving the
// peer at most closeTimeout to take them.
func (c *conn) Close(code protocol.CloseCode, reason string) {
	c.stopped.Store(true)
	defer c.markClosed()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return
	}
	c.closeSent = true
	switch {
	case c.w.Failed.Load():
		c.closeNow()
	case c.w.Stalled:
		c.w.SetDeadline(c.raw, min(c.w.Timeout, closeTimeout))
		push := c.enc.AppendDisconnectPush(nil, protocol.NewDisconnect(code, reason))
		_, _ = c.raw.Write(appendTerminated(c.w.Pending, c.enc, push))
		c.w.Pending = nil
		// No point waiting for a peer that has not read for so long.
		c.closeNow()
	default:
		c.halfClose()
	}
}

// Abort drops the connection at once, without taking wmu: a write in
// progress fails, and so does every later one.
func (c *conn) Abort() {
	c.stopped.Store(true)
	c.w.Failed.Store(true)
	c.closeNow()
	c.markClosed()
}

func (c *conn) markClosed() { c.closedOnce.Do(func() { close(c.closed) }) }

// awaitClose waits, on the reader, for the hub to close a connection it
// was asked to end, reading and dropping what the peer still sends. The
// hub's writer is bounded by the write timeout, and the half-close by
// closeTimeout; the wait is bounded by both, whatever the peer does.
func (c *conn) awaitClose() {
	bound := c.w.Timeout + closeTimeout
	// The hub's close sets a closer deadline (closeTimeout); this one
	// bounds the copy if the close never came, or came first.
	_ = c.raw.SetReadDeadline(time.Now().Add(bound))
	_, _ = io.Copy(io.Discard, c.raw)
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
	}
}

// end tells the hub the connection has ended with code.
func (c *conn) end(code protocol.CloseCode) {
	// The code first, then no more writes: a write failing on the closed
	// socket must not record a code of its own.
	c.client.PeerClosed(code)
	c.readDone.Store(true)
	c.closeNow()
	c.client.Closed()
	c.ended()
}

type closeWriter interface{ CloseWrite() error }

// halfClose shuts the write side and gives the peer closeTimeout to close
// its side, which the reader waits for.
func (c *conn) halfClose() {
	c.once.Do(func() {
		if cw, ok := c.raw.(closeWriter); ok && cw.CloseWrite() == nil {
			_ = c.raw.SetReadDeadline(time.Now().Add(closeTimeout))
			return
		}
		_ = c.raw.Close()
	})
}

// closeNow closes the socket for good.
func (c *conn) closeNow() {
	c.once.Do(func() {})
	_ = c.raw.Close()
}
