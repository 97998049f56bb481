package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/sockwrite"
	"github.com/heraldhq/herald/protocol"
)

// closeTimeout is how long a connection waits for the peer's close frame
// after sending its own.
const closeTimeout = 5 * time.Second

// errCloseSent is what a write after the server's close frame returns.
var errCloseSent = errors.New("websocket: close frame already sent")

// wsConn is one WebSocket connection after its handshake: the hub's
// Transport on the write side (this file) and a frame reader on the read
// side (reader.go). RFC 6455 framing is github.com/gobwas/ws's.
type wsConn struct {
	raw        *halfCloseConn
	enc        protocol.Encoding
	burstCount uint8
	// deflateBits is the window of permessage-deflate when the connection
	// negotiated it (8..15), else 0; deflateMin the threshold below which
	// a message goes uncompressed (deflate.go). Both fill padding.
	deflateBits uint8
	deflateMin  uint32
	maxMessage  int64
	// handle receives every complete data message; nil drops them (a
	// connection refused after its handshake).
	handle func(c *wsConn, op ws.OpCode, data []byte)
	client *hub.Client // the hub's side, when handle is clientMessage
	// onControl is c.control, made once: the frame parser calls it for a
	// control frame between the fragments of a message.
	onControl func(ws.Header, io.Reader) error
	// panicked reports a recovered panic in frame parsing.
	panicked func(v any)

	// poll, when set, lets the connection wait for bytes without a
	// goroutine of its own depth; see reader.go.
	poll     syscall.RawConn
	readable func(fd uintptr) bool
	bursts   *burstPool
	// loops is the server's event loop, for a polled socket on Linux
	// (eventloop_linux.go); inLoop is the connection's place in it and
	// pollState who reads it.
	loops     *eventLoops
	inLoop    loopEntry
	pollState atomic.Uint32
	// burstWindow (a uint32, in burstClock's milliseconds, filling
	// pollState's padding) is when the current second of bursts began;
	// burstCount (beside enc) counts them. Owned by the reader; see
	// wsConn.idle.
	burstWindow uint32
	first       *bufio.Reader // the first burst's reader, when it holds bytes
	// prefetched is the pooled reader holding the bytes the waiter read,
	// handed to the next burst.
	prefetched *frameReader
	ended      func() // called once reading has ended

	stopped    atomic.Bool // no further messages reach the hub
	peerClosed atomic.Bool // the peer's close frame arrived
	readDone   atomic.Bool // reading has ended: the connection is gone

	// wmu serializes writes: the hub's writer, control replies from the
	// reader and the close frame.
	wmu       sync.Mutex
	closeSent bool // under wmu
	// w is the socket's write deadline and what a stalled write left,
	// under wmu (Failed is read without it). After a stall, w.Pending
	// holds the rest of the frame, which the close frame must follow (see
	// sendCloseLocked); tryWriteFrame also leaves there what the socket
	// did not take at once.
	w sockwrite.State
	// tryWrite is the callback of poll.Write that writes tryBuf from
	// tryN on without waiting (readiness_unix.go), made once; tryBuf,
	// tryN and tryErr are its arguments and results, under wmu.
	tryWrite func(fd uintptr) bool
	tryBuf   []byte
	tryN     int
	tryErr   error
}

var (
	_ hub.Transport = (*wsConn)(nil)
	_ hub.Aborter   = (*wsConn)(nil)
)

// Writes gives the hub the connection's write functions. A polled socket
// (not TLS, whose records the socket cannot see) also writes a frame
// without waiting, so a fan-out need not start a goroutine per subscriber.
func (c *wsConn) Writes() hub.Writes {
	w := hub.Writes{Frame: c.WriteFrame}
	if c.poll != nil {
		w.TryFrame, w.Flush = c.tryWriteFrame, c.flush
	}
	if c.deflateBits != 0 {
		w.Messages = c.writeMessages
	}
	return w
}

// dataOpCode is the frame type of the connection's encoding.
func (c *wsConn) dataOpCode() ws.OpCode {
	if c.enc.Binary() {
		return ws.OpBinary
	}
	return ws.OpText
}

// WriteFrame writes parts as one data frame, text or binary as the
// connection's encoding asks.
func (c *wsConn) WriteFrame(parts [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.closedLocked(); err != nil {
		return err
	}
	return c.writeLocked(c.dataOpCode(), parts...)
}

// closedLocked returns what a data frame written after a close frame gets,
// nil before one, with wmu held.
func (c *wsConn) closedLocked() error {
	switch {
	case c.readDone.Load(), c.closeSent && c.peerClosed.Load():
		// The peer ended the connection (with its close frame or
		// without); the reader reports its code.
		return hub.ErrTransportClosed
	case c.closeSent:
		return errCloseSent
	case c.w.Stalled:
		// Only the close frame may follow the unfinished frame.
		return hub.ErrStalled
	}
	return nil
}

// tryWriteFrame is WriteFrame without waiting for the socket, for a polled
// socket: what the socket does not take at once is kept for flush, and so
// is the whole frame when something is pending already.
func (c *wsConn) tryWriteFrame(parts [][]byte) (done bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.closedLocked(); err != nil {
		return false, err
	}
	f := c.buildFrame(c.dataOpCode(), parts)
	defer putFrameBuffer(f)
	return c.tryWriteLocked(f.b)
}

// tryWriteLocked writes b without waiting for the socket, keeping what it
// does not take at once for flush, with wmu held.
func (c *wsConn) tryWriteLocked(b []byte) (done bool, err error) {
	n := 0
	if len(c.w.Pending) == 0 {
		// An expired write deadline fails even a write that need not wait.
		c.w.MoveDeadline(c.raw)
		c.tryBuf, c.tryN, c.tryErr = b, 0, nil
		err = c.poll.Write(c.tryWrite)
		n, c.tryBuf = c.tryN, nil
		if err == nil {
			err = c.tryErr
		}
		if err != nil {
			c.w.Failed.Store(true)
			return false, err
		}
		if n == len(b) {
			return true, nil
		}
	}
	c.w.Pending = append(c.w.Pending, b[n:]...)
	return false, nil
}

// flush writes what tryWriteFrame left.
func (c *wsConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush(c.raw)
}

// writeLocked writes one frame (header and payload in one write), after
// anything pending, with wmu held.
func (c *wsConn) writeLocked(op ws.OpCode, parts ...[]byte) error {
	if err := c.w.Flush(c.raw); err != nil {
		return err
	}
	c.w.MoveDeadline(c.raw)
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	if size > maxPooledFrame {
		return c.writeVectorLocked(op, parts, size)
	}
	f := c.buildFrame(op, parts)
	defer putFrameBuffer(f)
	return c.writeBufLocked(f.b)
}

// writeBufLocked writes b, frames built whole, waiting for the socket,
// with wmu held and anything pending flushed.
func (c *wsConn) writeBufLocked(b []byte) error {
	if n, err := c.raw.Write(b); err != nil {
		return c.w.Fail(err, [][]byte{b[n:]})
	}
	return nil
}

// writeVectorLocked writes a large frame without copying its payload: the
// header and the parts go to the socket in one vectored write (writev on
// TCP), so a long reply is held once, where it was encoded.
func (c *wsConn) writeVectorLocked(op ws.OpCode, parts [][]byte, size int) error {
	f := getFrameBuffer()
	defer putFrameBuffer(f)
	_ = ws.WriteHeaderBuffer(f, ws.Header{Fin: true, OpCode: op, Length: int64(size)}, f.header[:])
	bufs := make(net.Buffers, 0, 1+len(parts))
	bufs = append(bufs, f.b)
	bufs = append(bufs, parts...)
	// WriteTo consumes bufs: what is left in it was not written.
	if _, err := bufs.WriteTo(c.raw.Conn); err != nil {
		return c.w.Fail(err, bufs)
	}
	return nil
}

// buildFrame returns a pooled buffer holding one frame of parts.
func (c *wsConn) buildFrame(op ws.OpCode, parts [][]byte) *frameBuffer {
	f := getFrameBuffer()
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	// Cannot fail: the buffer is large enough and appending does not.
	_ = ws.WriteHeaderBuffer(f, ws.Header{Fin: true, OpCode: op, Length: int64(n)}, f.header[:])
	for _, p := range parts {
		f.b = append(f.b, p...)
	}
	return f
}

// Close sends a close frame; the reader then waits for the peer's. After a
// failed write there is no point: the socket is dropped at once.
func (c *wsConn) Close(code protocol.CloseCode, reason string) {
	c.stopped.Store(true)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.sendCloseLocked(code, reason)
}

// Abort drops the connection at once, without taking wmu: a write in
// progress fails, and so does every later one.
func (c *wsConn) Abort() {
	c.stopped.Store(true)
	c.w.Failed.Store(true)
	c.closeSocket()
}

// closeSocket closes the socket for good: out of the event loop first,
// then closed, then, if it was waiting in the loop, a burst reads the
// closed socket and ends the connection (nothing else would wake it).
func (c *wsConn) closeSocket() {
	c.unwatch()
	c.raw.closeNow()
	c.wake()
}

// sendCloseLocked sends the close frame once, then half-closes the socket,
// with wmu held.
func (c *wsConn) sendCloseLocked(code protocol.CloseCode, reason string) {
	if c.closeSent {
		return
	}
	c.closeSent = true
	if c.w.Failed.Load() {
		c.closeSocket()
		return
	}
	wait := c.w.Timeout
	if c.w.Stalled {
		// The peer has not read for a write timeout already: it gets one
		// more (at most closeTimeout) to take the rest of its frame and
		// the close frame (4001), so that a client that was only paused
		// learns why.
		wait = min(c.w.Timeout, closeTimeout)
	}
	c.w.SetDeadline(c.raw, wait)
	f := c.buildFrame(ws.OpClose, [][]byte{ws.NewCloseFrameBody(ws.StatusCode(code), reason)})
	defer putFrameBuffer(f)
	c.w.Pending = append(c.w.Pending, f.b...)
	if _, err := c.raw.Write(c.w.Pending); err != nil {
		c.w.Pending = nil
		c.closeSocket()
		return
	}
	c.w.Pending = nil
	if c.w.Stalled {
		// No point waiting for the close frame of a peer that has not
		// read for so long: the kernel still delivers what was written.
		c.closeSocket()
		return
	}
	_ = c.raw.Close()
	if c.loops != nil {
		// The read deadline Close armed wakes a waiter or a burst in a
		// read, not the event loop: a socket armed there is closed when
		// the peer's close frame is overdue.
		time.AfterFunc(closeTimeout, c.closeSocket)
	}
}

// frameBuffer is the buffer one outgoing frame is built in, header and
// payload together, so that a frame leaves in one write.
type frameBuffer struct {
	b      []byte
	header [ws.MaxHeaderSize]byte
	// scratch is where a message is compressed before it is framed
	// (appendMessages).
	scratch []byte
}

// Write appends to the frame; ws.WriteHeaderBuffer writes the header here.
func (f *frameBuffer) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	return len(p), nil
}

var framePool = sync.Pool{New: func() any { return new(frameBuffer) }}

// maxPooledFrame bounds the frame buffers kept for reuse, so that one large
// message does not pin its buffer for good.
const maxPooledFrame = 64 << 10

func getFrameBuffer() *frameBuffer { return framePool.Get().(*frameBuffer) }

func putFrameBuffer(f *frameBuffer) {
	if cap(f.b) > maxPooledFrame {
		return
	}
	if cap(f.scratch) > maxPooledFrame {
		f.scratch = nil
	}
	f.b, f.scratch = f.b[:0], f.scratch[:0]
	framePool.Put(f)
}

// halfCloseConn makes closing a half-close: after the close frame, the write
// side is shut (FIN) and the read side stays open until the peer's close
// frame arrives or closeTimeout passes. Closing at once would reset
// connections whose peer still had data in flight, and a reset can destroy
// the last messages before the peer reads them.
type halfCloseConn struct {
	net.Conn
	once sync.Once
}

type closeWriter interface{ CloseWrite() error }

// Close shuts the write side and arms the read deadline.
func (c *halfCloseConn) Close() error {
	c.once.Do(func() {
		if cw, ok := c.Conn.(closeWriter); ok {
			_ = cw.CloseWrite()
			_ = c.Conn.SetReadDeadline(time.Now().Add(closeTimeout))
			return
		}
		_ = c.Conn.Close()
	})
	return nil
}

// closeNow closes the socket for good.
func (c *halfCloseConn) closeNow() {
	c.once.Do(func() {})
	_ = c.Conn.Close()
}
