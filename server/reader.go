package server

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldhq/herald/internal/burst"
	"github.com/heraldhq/herald/internal/sockread"
	"github.com/heraldhq/herald/protocol"
)

// How a connection reads.
//
// Most connections are idle most of the time, so what an idle connection
// holds decides how many fit in a server's memory. A goroutine that reads
// frames and hands them to the hub grows its stack to the depth of that
// work (a token check, a publish) and keeps it while blocked in its next
// read: 4 KiB or more per idle connection, and the collector's heap goal
// grows with it. So a plain socket is read in bursts instead, started when
// bytes arrive. On Linux an idle connection waits in the server's event
// loop (eventloop_linux.go) with no goroutine at all; the loop hands a
// ready socket to a burst, which reads it without waiting first. Elsewhere,
// and whenever the loop cannot take a connection, it has a waiter:
//
//   - a waiter goroutine, whose only call chain is a readiness wait, parks
//     until the socket has bytes and stays at the minimum stack. Each time
//     the runtime's poller says the socket may be readable, the waiter
//     takes a read buffer from a pool and reads the socket without
//     waiting: nothing there, and the buffer goes back to the pool (so an
//     idle connection holds none); bytes, and they are the burst's first.
//     That read is the one a blocking reader would make, so waiting costs
//     no system call of its own;
//   - it hands the connection to a burst goroutine from burstPool and
//     exits; the burst reads and handles whole messages while bytes remain
//     buffered, returns the buffer and arms the connection in the loop
//     again, or starts a new waiter.
//
// A connection is armed in the loop, or has a waiter or a burst, never two
// of them, so its messages are handled one at a time, in order. A message split across packets keeps
// its burst waiting for the rest. Connections without a pollable socket
// (TLS) keep one goroutine that reads in a loop.

// readBufferSize is the size of a burst's pooled read buffer.
const readBufferSize = 4096

// loopBufferSize is the read buffer of a connection that reads in a loop:
// small, because it is held for the connection's whole life; larger
// payloads are read straight into the message buffer.
const loopBufferSize = 1024

// frameReader is the state of reading: the buffered source, the frame
// parser and the buffer a message is assembled in. Bursts take one from
// readerPool.
type frameReader struct {
	br  *bufio.Reader
	src sockread.Source // br's source, for pooled readers
	rd  wsutil.Reader
	msg []byte
	// With permessage-deflate: flate takes RSV1 off a message's first
	// frame and remembers it (ext holds it for rd), and inflated is the
	// buffer a compressed message is inflated into.
	flate    wsflate.MessageState
	ext      [1]wsutil.RecvExtension
	inflated []byte
}

var readerPool = sync.Pool{New: func() any {
	return &frameReader{br: bufio.NewReaderSize(nil, readBufferSize)}
}}

// takeReader takes a pooled reader of c's connection.
func (c *wsConn) takeReader() *frameReader {
	fr := readerPool.Get().(*frameReader)
	fr.src = sockread.Source{Conn: c.raw, FD: -1}
	fr.br.Reset(&fr.src)
	return fr
}

// releaseReader returns fr, taken by takeReader, to the pool.
func releaseReader(fr *frameReader) {
	fr.br.Reset(nil)
	fr.src, fr.rd, fr.flate = sockread.Source{FD: -1}, wsutil.Reader{}, wsflate.MessageState{}
	if cap(fr.msg) > maxPooledMessage {
		fr.msg = nil
	}
	if cap(fr.inflated) > maxPooledMessage {
		fr.inflated = nil
	}
	readerPool.Put(fr)
}

// maxPooledMessage bounds the message buffers kept with pooled readers.
const maxPooledMessage = 64 << 10

// newFrameReader prepares a reader of br for c.
func (c *wsConn) newFrameReader(fr *frameReader, br *bufio.Reader) {
	fr.br = br
	fr.rd = wsutil.Reader{
		Source:         br,
		State:          ws.StateServerSide,
		MaxMessageSize: c.maxMessage,
		OnIntermediate: c.onControl,
	}
	if c.deflateBits != 0 {
		// RSV1 means "compressed" on a message's first frame; anywhere
		// else, and RSV2 and RSV3 always, it is a protocol error
		// (wsflate.MessageState, checkRsv, control).
		fr.rd.State |= ws.StateExtended
		fr.ext[0] = &fr.flate
		fr.rd.Extensions = fr.ext[:]
		fr.rd.OnContinuation = checkRsv
	}
}

// start reads the connection until it ends, then tells the hub and calls
// ended. first is the reader the handshake left, when it already holds the
// client's first bytes. It returns at once.
func (c *wsConn) start(first *bufio.Reader, ended func()) {
	c.ended = ended
	if c.poll == nil {
		go func() { c.end(c.readLoop(first)) }()
		return
	}
	c.first = first
	inLoop := c.watch(first != nil)
	switch {
	case first != nil:
		c.bursts.Run(c)
	case !inLoop:
		go c.wait()
	}
}

// end tells the hub the connection has ended with code.
func (c *wsConn) end(code protocol.CloseCode) {
	// The code first, then no more writes: a write failing on the closed
	// socket must not record a code of its own.
	if c.client != nil {
		c.client.PeerClosed(code)
	}
	c.readDone.Store(true)
	c.closeSocket()
	c.forget()
	if c.client != nil {
		c.client.Closed()
	}
	c.ended()
}

// readLoop reads messages on one goroutine until the connection ends and
// returns the close code to record: for connections whose socket cannot be
// polled.
func (c *wsConn) readLoop(first *bufio.Reader) protocol.CloseCode {
	br := first
	if br == nil {
		br = bufio.NewReaderSize(c.raw, loopBufferSize)
	}
	fr := &frameReader{}
	c.newFrameReader(fr, br)
	for {
		if code, done := c.readMessage(fr); done {
			return code
		}
	}
}

// wait is the waiter: it parks until it has read bytes from the socket
// (or the socket has failed), hands the connection to a burst and exits.
// Each wait is a new goroutine, so that nothing it ever ran (an
// asynchronous preemption spills every register onto the stack it
// interrupts) leaves it a larger stack for the connection's idle time.
func (c *wsConn) wait() {
	// An error (a deadline, a reset) is the burst's to read.
	_ = c.poll.Read(c.readable)
	c.bursts.Run(c)
}

// RunBurst runs one burst on a pool goroutine (c's burst.Job), then
// waits for the next bytes or ends the connection. A burst the event loop
// started reads the socket without waiting first: a readiness that held
// nothing costs no parked goroutine.
func (c *wsConn) RunBurst() {
	first := c.first
	c.first = nil
	if first == nil && c.prefetched == nil && !c.prefetch() {
		c.idle()
		return
	}
	if code, done := c.burst(first); done {
		c.end(code)
		return
	}
	c.idle()
}

// idle waits for the connection's next bytes: armed in the event loop, or
// in a new waiter goroutine. A busy connection gets the waiter: one with
// busyBursts bursts or more within a second (or in the second before).
// A wake-up through the loop's thread costs more per round trip than one
// through the runtime's poller (BenchmarkEchoRoundTrip), which a client
// that sends all the time would pay on every message. A quiet connection
// (a listener answering heartbeats, a client that connects and subscribes)
// goes to the loop, where it costs no goroutine; a busy one that falls
// quiet keeps its waiter until its next message, at most a heartbeat
// interval.
func (c *wsConn) idle() {
	now := burstClock()
	if since := now - c.burstWindow; since >= burstWindow {
		// A new second: a connection busy in the one just ended stays
		// busy, one quiet for longer starts over.
		carry := since < 2*burstWindow && c.burstCount >= c.bursts.busyBursts
		c.burstWindow, c.burstCount = now, 0
		if carry {
			c.burstCount = c.bursts.busyBursts - 1
		}
	}
	if c.burstCount < 255 {
		c.burstCount++
	}
	if c.burstCount >= c.bursts.busyBursts || !c.rearm() {
		go c.wait()
	}
}

// busyBursts is how many bursts within a second make a connection busy.
const busyBursts = 4

// burstWindow is the span busyBursts are counted over, in milliseconds.
const burstWindow = 1000

// clockStart is burstClock's zero.
var clockStart = time.Now()

// burstClock is a monotonic clock in milliseconds for wsConn.burstWindow.
// It starts at 2^20 (17 minutes), so that a connection's first burst,
// compared with a window of 0, starts a new one, and wraps after 49 days;
// differences stay right across the wrap.
func burstClock() uint32 {
	return uint32(time.Since(clockStart).Milliseconds()) + 1<<20
}

// burstPool runs bursts on goroutines that outlive one burst (see
// internal/burst), and carries the busy rule of idle.
type burstPool struct {
	*burst.Pool
	// busyBursts is busyBursts, or what a test sets before the pool's
	// first use.
	busyBursts uint8
}

func newBurstPool() *burstPool {
	return &burstPool{Pool: burst.NewPool(), busyBursts: busyBursts}
}

// burst reads and handles messages while bytes remain buffered. It reports
// done, with the close code, when the connection has ended.
func (c *wsConn) burst(first *bufio.Reader) (code protocol.CloseCode, done bool) {
	fr := c.prefetched // holding the bytes the waiter read
	c.prefetched = nil
	if fr == nil {
		fr = c.takeReader()
	}
	own := fr.br
	br := own
	if first != nil {
		br = first
	}
	c.newFrameReader(fr, br)
	defer func() {
		fr.br = own
		releaseReader(fr)
	}()
	for {
		if code, done = c.readMessage(fr); done || br.Buffered() == 0 {
			return code, done
		}
	}
}

// readMessage reads one message (and any control frames before it) and
// hands it on. It reports done, with the close code to record, when the
// connection has ended. A panic in parsing closes this connection with 1002
// and leaves the rest of the server running.
func (c *wsConn) readMessage(fr *frameReader) (code protocol.CloseCode, done bool) {
	defer func() {
		if v := recover(); v != nil {
			c.onPanic(v)
			code, done = protocol.CloseProtocolError, true
		}
	}()
	for {
		hdr, err := fr.rd.NextFrame()
		if err != nil {
			return c.readFailed(err), true
		}
		if hdr.OpCode.IsControl() {
			if err := c.control(hdr, &fr.rd); err != nil {
				return c.readFailed(err), true
			}
			continue
		}
		if hdr.Rsv != 0 { // a bit no negotiated extension took
			return c.readFailed(ws.ErrProtocolNonZeroRsv), true
		}
		fr.msg, err = readPayload(&fr.rd, fr.msg[:0], hdr.Length)
		if err != nil {
			return c.readFailed(err), true
		}
		msg := fr.msg
		if c.deflateBits != 0 && fr.flate.IsCompressed() {
			fr.inflated, err = inflateMessage(fr.inflated[:0], fr.msg, c.maxMessage)
			if err != nil {
				return c.readFailed(err), true
			}
			msg = fr.inflated
		}
		if !c.stopped.Load() && c.handle != nil {
			c.handle(c, hdr.OpCode, msg)
		}
		return 0, false
	}
}

// readPayload reads the rest of the message rd is at into buf, which it
// grows; size is the first frame's length, all of it for an unfragmented
// message.
func readPayload(rd *wsutil.Reader, buf []byte, size int64) ([]byte, error) {
	if int64(cap(buf)) < size {
		buf = make([]byte, 0, size)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// control answers a control frame: a ping with a pong, a close with the
// close handshake (as wsutil.ClosedError, which ends the reading).
func (c *wsConn) control(hdr ws.Header, payload io.Reader) error {
	if hdr.Rsv != 0 { // past CheckHeader only with permessage-deflate
		return ws.ErrProtocolNonZeroRsv
	}
	p := make([]byte, hdr.Length) // ≤125: CheckHeader bounded it
	if _, err := io.ReadFull(payload, p); err != nil {
		return err
	}
	switch hdr.OpCode {
	case ws.OpPing:
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if c.closeSent {
			return nil
		}
		return c.writeLocked(ws.OpPong, p)
	case ws.OpClose:
		code, reason := ws.StatusNoStatusRcvd, ""
		switch len(p) {
		case 0:
		case 1: // a body must start with a two-byte code
			return ws.ErrProtocolStatusCodeUnknown
		default:
			code, reason = ws.ParseCloseFrameData(p)
			if err := ws.CheckCloseFrameData(code, reason); err != nil {
				return err
			}
			if code >= 5000 { // RFC 6455 §7.4.2 defines no codes past 4999
				return ws.ErrProtocolStatusCodeUnknown
			}
		}
		c.stopped.Store(true)
		c.peerClosed.Store(true)
		c.wmu.Lock()
		if !c.closeSent {
			// RFC 6455 §5.5.1: answer with a close frame, echoing the code.
			c.closeSent = true
			_ = c.writeLocked(ws.OpClose, p[:min(len(p), 2)])
		}
		c.wmu.Unlock()
		return wsutil.ClosedError{Code: code, Reason: reason}
	}
	return nil // a pong
}

// readFailed ends reading on err and returns the close code to record:
// the peer's for its close frame, 1002 or 1009 (sent to the peer) for a
// frame that breaks the protocol or the size limit, 1007 for a compressed
// message that does not inflate, 1006 for a connection that ended without
// a close frame.
func (c *wsConn) readFailed(err error) protocol.CloseCode {
	var closed wsutil.ClosedError
	var perr ws.ProtocolError
	switch {
	case errors.As(err, &closed):
		return protocol.CloseCode(closed.Code)
	case errors.Is(err, wsutil.ErrMessageTooLarge), errors.Is(err, wsutil.ErrFrameTooLarge):
		return c.failConnection(protocol.CloseMessageTooBig, "message too big")
	case errors.Is(err, errInvalidDeflate):
		return c.failConnection(protocol.CloseInvalidPayload, "invalid compressed data")
	case errors.As(err, &perr), errors.Is(err, ws.ErrHeaderLengthMSB), errors.Is(err, ws.ErrHeaderLengthUnexpected):
		return c.failConnection(protocol.CloseProtocolError, "protocol error")
	}
	return protocol.CloseAbnormal
}

// failConnection closes a connection whose peer broke the protocol: a close
// frame with code, then the bytes still arriving are discarded until the
// peer closes or closeTimeout passes, so that the close frame is read
// rather than lost to a reset.
func (c *wsConn) failConnection(code protocol.CloseCode, reason string) protocol.CloseCode {
	c.stopped.Store(true)
	c.wmu.Lock()
	c.sendCloseLocked(code, reason)
	c.wmu.Unlock()
	_, _ = io.Copy(io.Discard, c.raw)
	return code
}

// onPanic closes a connection whose frame parsing panicked.
func (c *wsConn) onPanic(v any) {
	c.stopped.Store(true)
	c.wmu.Lock()
	c.sendCloseLocked(protocol.CloseProtocolError, "protocol error")
	c.wmu.Unlock()
	c.panicked(v)
}

// clientMessage hands a client's message to the hub, after the checks
// RFC 6455 and the protocol leave to the application.
func clientMessage(c *wsConn, op ws.OpCode, data []byte) {
	if op != c.dataOpCode() {
		reason := "binary frames need the protobuf subprotocol"
		if c.enc.Binary() {
			reason = "text frames need the JSON subprotocol"
		}
		c.client.Disconnect(protocol.NewDisconnect(protocol.CloseUnsupportedData, reason))
		return
	}
	if op == ws.OpText && !utf8.Valid(data) {
		c.stopped.Store(true)
		c.client.Disconnect(protocol.NewDisconnect(protocol.CloseInvalidPayload, "invalid UTF-8"))
		return
	}
	c.client.HandleFrame(data)
}

// echoMessage serves the diagnostic echo endpoint: every message goes back
// unchanged.
func echoMessage(c *wsConn, op ws.OpCode, data []byte) {
	if op == ws.OpText && !utf8.Valid(data) {
		c.Close(protocol.CloseInvalidPayload, "invalid UTF-8")
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case c.closeSent:
	case c.deflateBits != 0:
		_ = c.writeMessageLocked(op, data)
	default:
		_ = c.writeLocked(op, data)
	}
}
