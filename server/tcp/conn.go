package tcp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/burst"
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
	raw          net.Conn
	enc          protocol.Encoding
	maxMessage   int
	maxCommands  int
	writeTimeout time.Duration
	// resumable says the socket can be written again after a timed-out
	// write (not TLS, whose state a timed-out write corrupts).
	resumable bool
	client    *hub.Client
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
	wmu         sync.Mutex
	closeSent   bool // under wmu: the close has begun
	writeFailed atomic.Bool
	// stalled records, under wmu, that a write timed out on a peer that
	// stopped reading: pending then holds the rest of the frame, which the
	// disconnect push must follow.
	stalled bool
	pending []byte
	// writeDeadline is the deadline last set on the socket, under wmu.
	writeDeadline time.Time
	// vec is the vector of the last write, kept for its backing array.
	vec net.Buffers
}

var (
	_ hub.Transport = (*conn)(nil)
	_ hub.Aborter   = (*conn)(nil)
)

func newConn(raw net.Conn, enc protocol.Encoding, cfg Config) *conn {
	_, isTLS := raw.(*tls.Conn)
	return &conn{
		raw:          raw,
		enc:          enc,
		maxMessage:   cfg.MaxMessageSize,
		maxCommands:  cfg.MaxFrameCommands,
		writeTimeout: cfg.WriteTimeout,
		resumable:    !isTLS,
		closed:       make(chan struct{}),
	}
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
	case c.stalled:
		// Only the disconnect push may follow the unfinished frame.
		return hub.ErrStalled
	}
	if err := c.flushLocked(); err != nil {
		return err
	}
	c.moveWriteDeadline()
	if !c.resumable {
		// One write, one TLS record where it fits: a vector would make a
		// record of every message.
		b := make([]byte, 0, frameSize(parts)+1)
		for _, p := range parts {
			b = append(b, p...)
		}
		b = appendTerminated(b, c.enc, nil)
		if _, err := c.raw.Write(b); err != nil {
			return c.failedLocked(err, nil)
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
		err = c.failedLocked(err, rest)
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

// flushLocked writes what a stalled write left, with wmu held.
func (c *conn) flushLocked() error {
	if len(c.pending) == 0 {
		return nil
	}
	c.moveWriteDeadline()
	n, err := c.raw.Write(c.pending)
	if err != nil {
		c.pending = c.pending[n:]
		return c.failedLocked(err, nil)
	}
	c.pending = nil
	return nil
}

// failedLocked records a failed write, with wmu held; rest is what the
// write left. A write that timed out on a socket that can be written again
// is a stall (the peer stopped reading for the write timeout), reported as
// hub.ErrStalled, and rest is kept so that the disconnect push can still
// follow a whole frame. Any other failure ends the connection.
func (c *conn) failedLocked(err error, rest net.Buffers) error {
	if c.resumable && errors.Is(err, os.ErrDeadlineExceeded) {
		c.stalled = true
		for _, b := range rest {
			c.pending = append(c.pending, b...)
		}
		return fmt.Errorf("%w: %w", hub.ErrStalled, err)
	}
	c.pending = nil
	c.writeFailed.Store(true)
	return err
}

// moveWriteDeadline keeps the socket's write deadline ahead, with wmu
// held, moving it only when less than half of writeTimeout is left (a
// deadline update costs a runtime timer update per write otherwise).
func (c *conn) moveWriteDeadline() {
	if now := time.Now(); c.writeDeadline.Sub(now) < c.writeTimeout/2 {
		c.writeDeadline = now.Add(c.writeTimeout)
		_ = c.raw.SetWriteDeadline(c.writeDeadline)
	}
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
	case c.writeFailed.Load():
		c.closeNow()
	case c.stalled:
		c.writeDeadline = time.Now().Add(min(c.writeTimeout, closeTimeout))
		_ = c.raw.SetWriteDeadline(c.writeDeadline)
		push := c.enc.AppendDisconnectPush(nil, protocol.NewDisconnect(code, reason))
		_, _ = c.raw.Write(appendTerminated(c.pending, c.enc, push))
		c.pending = nil
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
	c.writeFailed.Store(true)
	c.closeNow()
	c.markClosed()
}

func (c *conn) markClosed() { c.closedOnce.Do(func() { close(c.closed) }) }

// awaitClose waits, on the reader, for the hub to close a connection it
// was asked to end, reading and dropping what the peer still sends. The
// hub's writer is bounded by the write timeout, and the half-close by
// closeTimeout; the wait is bounded by both, whatever the peer does.
func (c *conn) awaitClose() {
	bound := c.writeTimeout + closeTimeout
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
