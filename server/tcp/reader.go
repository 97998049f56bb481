package tcp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/sockread"
	"github.com/heraldhq/herald/protocol"
)

// How a connection reads.
//
// Most connections are idle most of the time, so what an idle connection
// holds decides how many fit in a node's memory. A goroutine that reads
// messages and hands them to the hub grows its stack to the depth of that
// work and keeps it while it waits for the next message. So a plain
// socket's reader, once it has handled everything that arrived, gives its
// read buffer back to a pool and hands the connection to a new goroutine
// that only waits for the socket to be readable, at the minimum stack; the
// waiter hands the next burst (reading and handling what arrived) to a
// goroutine of a burst.Pool, whose stack has grown already, and ends. One
// goroutine at a time reads a connection, so its messages reach the hub
// one frame at a time, in order. A TLS connection, whose buffered records
// the socket cannot see, keeps one goroutine that reads in a loop. The
// WebSocket endpoint reads the same way (server/reader.go).

// readBufferSize is a connection's read buffer: small, because a longer
// message is assembled in the frame buffer instead.
const readBufferSize = 1024

// readBuf is a pooled read buffer and its source.
type readBuf struct {
	br  *bufio.Reader // reads src
	src sockread.Source
}

var bufPool = sync.Pool{New: func() any {
	rb := &readBuf{}
	rb.br = bufio.NewReaderSize(&rb.src, readBufferSize)
	return rb
}}

// getReader returns a pooled read buffer reading conn.
func getReader(conn io.Reader) *readBuf {
	rb := bufPool.Get().(*readBuf)
	rb.src = sockread.Source{Conn: conn, FD: -1}
	rb.br.Reset(&rb.src)
	return rb
}

// putReader gives a read buffer back to the pool, dropping what it holds.
func putReader(rb *readBuf) {
	rb.br.Reset(&rb.src)
	rb.src = sockread.Source{FD: -1}
	bufPool.Put(rb)
}

// maxKeptFrame bounds the frame buffer a connection keeps between frames:
// a busy connection of small messages reuses it, and one large message
// does not pin its buffer on a connection that then idles.
const maxKeptFrame = 4 << 10

// maxPreamble is the longest preamble line read, its line end included.
const maxPreamble = 32

// The preamble: the client's first line names the encoding, as the
// WebSocket subprotocol does. A line rather than a listener per encoding:
// one port serves both encodings, a client can say what it speaks (and a
// person with a terminal can read it), and a server that meets an unknown
// name can say so instead of misreading every byte that follows.
var (
	preambleJSON     = []byte(protocol.SubprotocolJSON)
	preambleProtobuf = []byte(protocol.SubprotocolProtobuf)
)

// errPreamble is what readPreamble returns for a first line that names no
// encoding Herald speaks; its text goes to the client.
var errPreamble = errors.New("unknown encoding: the first line must be herald.v1.json or herald.v1.proto")

// readPreamble reads the first line and returns the encoding it names.
// The line may end with "\r\n".
func readPreamble(br *bufio.Reader) (protocol.Encoding, error) {
	var line []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			if len(line) == 0 && errors.Is(err, io.EOF) {
				return 0, err
			}
			return 0, fmt.Errorf("preamble: %w", errTimeoutOr(err))
		}
		if b == '\n' {
			break
		}
		if len(line) == maxPreamble {
			return 0, errPreamble
		}
		line = append(line, b)
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	switch {
	case bytes.Equal(line, preambleJSON):
		return protocol.JSON, nil
	case bytes.Equal(line, preambleProtobuf):
		return protocol.Protobuf, nil
	}
	return 0, errPreamble
}

// errTimeoutOr names a timeout as the client sees it.
func errTimeoutOr(err error) error {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timeout")
	}
	return err
}

// A read failure that ends the connection with a code the server sends.
var (
	errTooBig      = errors.New("message too big")
	errLength      = errors.New("malformed length prefix")
	errInvalidUTF8 = errors.New("invalid UTF-8")
)

// reader reads one connection's messages and hands them to the hub in
// frames. It passes from goroutine to goroutine with the connection (see
// above), one at a time.
type reader struct {
	c     *conn
	rb    *readBuf      // nil while a waiter waits
	br    *bufio.Reader // rb.br, or nil
	frame []byte
	log   *slog.Logger
	// prefetched holds the bytes (or the end) the waiter read, for the
	// burst it hands on to.
	prefetched *readBuf
}

// release gives the read buffer back.
func (r *reader) release() {
	putReader(r.rb)
	r.rb, r.br = nil, nil
}

// run reads the connection until it ends (then it calls c.end) or, for a
// socket that can be polled, until nothing is left to read (then it starts
// a waiter). It is the connection's only reader while it runs.
func (r *reader) run() {
	c := r.c
	for {
		if code, done := r.readFrame(); done {
			r.release()
			c.end(code)
			return
		}
		if c.poll != nil && r.br.Buffered() == 0 {
			r.release()
			go r.wait()
			return
		}
	}
}

// wait parks until the socket is readable (or has failed: the next read
// reports it), then hands the burst on. Each wait is a new goroutine, so
// that it waits at the minimum stack, whatever the last frame's handling
// needed.
func (r *reader) wait() {
	_ = r.c.poll.Read(r.readable)
	r.c.bursts.Run(r)
}

// RunBurst reads and handles what has arrived, on a burst.Pool goroutine.
func (r *reader) RunBurst() {
	r.rb = r.prefetched
	r.prefetched = nil
	if r.rb == nil {
		r.rb = getReader(r.c.raw)
	}
	r.br = r.rb.br
	r.run()
}

// readFrame reads one frame and hands it to the hub. What the hub gets as
// one frame is one message and the messages right behind it that have
// fully arrived already, up to maxCommands: a client that pipelines gets
// its replies in as few writes, and no frame waits for bytes that are not
// there. It reports done, with the close code to record, when the
// connection has ended. A panic in handling closes this connection and
// leaves the rest of the server running.
func (r *reader) readFrame() (code protocol.CloseCode, done bool) {
	c := r.c
	defer func() {
		if v := recover(); v != nil {
			r.log.Warn("tcp read panic; closing connection", "panic", v)
			c.Abort()
			code, done = protocol.CloseProtocolError, true
		}
	}()
	r.frame = r.frame[:0]
	if err := r.readMessage(); err != nil {
		return r.failed(err, false), true
	}
	for n := 1; n < c.maxCommands && r.complete(); n++ {
		if !c.enc.Binary() {
			r.frame = append(r.frame, '\n')
		}
		if err := r.readMessage(); err != nil {
			return r.failed(err, true), true
		}
	}
	if !c.stopped.Load() {
		c.client.HandleFrame(r.frame)
	}
	if cap(r.frame) > maxKeptFrame {
		r.frame = nil
	}
	return 0, false
}

// failed ends reading on err and returns the close code to record: the
// code sent for a message the listener refuses (1009 too big, 1007
// invalid UTF-8, 4500 a broken length prefix), 1000 for a peer that
// closed between messages, 1006 for anything else. held says the frame
// holds messages not handed on yet: they run before the close.
func (r *reader) failed(err error, held bool) protocol.CloseCode {
	c := r.c
	if held && !c.stopped.Load() {
		c.client.HandleFrame(r.frame)
	}
	var d protocol.Disconnect
	switch {
	case errors.Is(err, errTooBig):
		d = protocol.NewDisconnect(protocol.CloseMessageTooBig, errTooBig.Error())
	case errors.Is(err, errInvalidUTF8):
		d = protocol.NewDisconnect(protocol.CloseInvalidPayload, errInvalidUTF8.Error())
	case errors.Is(err, errLength):
		d = protocol.NewDisconnect(protocol.CloseBadRequest, errLength.Error())
	case errors.Is(err, errCleanEOF):
		// The peer shut its side between messages: it may still read, so
		// what it asked for is answered before the connection ends.
		d = protocol.NewDisconnect(protocol.CloseNormal, "end of stream")
	default:
		return protocol.CloseAbnormal
	}
	// The push goes out behind the replies already queued, then the hub
	// closes; what the peer still sends meanwhile is read and dropped.
	c.stopped.Store(true)
	c.client.Disconnect(d)
	c.awaitClose()
	return d.Code
}

// errCleanEOF is the end of the stream between two messages.
var errCleanEOF = errors.New("closed between messages")

// readMessage reads the next message onto r.frame: a JSON line without
// its line end, or a Protobuf message with its length prefix.
func (r *reader) readMessage() error {
	if r.c.enc.Binary() {
		return r.readProto()
	}
	return r.readLine()
}

// readLine reads the next non-empty line. A line may end with "\r\n"; an
// empty line is skipped. A line is refused as too long as soon as more
// than maxMessage bytes of it (plus the line end) have arrived, so nothing
// past that is held, and nothing waits for more of a line already too long.
func (r *reader) readLine() error {
	start := len(r.frame)
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if len(r.frame) == start && errors.Is(err, io.EOF) {
					return errCleanEOF
				}
				return err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		i := bytes.IndexByte(buf, '\n')
		chunk := buf
		if i >= 0 {
			chunk = buf[:i]
		}
		if len(r.frame)-start+len(chunk) > r.c.maxMessage+1 { // +1: a "\r"
			return errTooBig
		}
		r.frame = append(r.frame, chunk...)
		if i < 0 {
			_, _ = r.br.Discard(len(buf))
			continue
		}
		_, _ = r.br.Discard(i + 1)
		line := bytes.TrimSuffix(r.frame[start:], []byte{'\r'})
		if len(line) == 0 {
			r.frame = r.frame[:start]
			continue
		}
		if len(line) > r.c.maxMessage {
			return errTooBig
		}
		if !utf8.Valid(line) {
			return errInvalidUTF8
		}
		r.frame = r.frame[:start+len(line)]
		return nil
	}
}

// readProto reads the next length-prefixed message, prefix included.
func (r *reader) readProto() error {
	size, err := readUvarint(r.br)
	switch {
	case errors.Is(err, io.EOF):
		return errCleanEOF
	case err != nil:
		return err
	case size > uint64(r.c.maxMessage):
		return errTooBig
	}
	r.frame = binary.AppendUvarint(r.frame, size)
	start := len(r.frame)
	r.frame = slices.Grow(r.frame, int(size))[:start+int(size)]
	_, err = io.ReadFull(r.br, r.frame[start:])
	return err
}

// readUvarint reads a varint as binary.ReadUvarint does, but tells an
// overlong prefix (errLength) from a failed read, and the end of the
// stream before a prefix (io.EOF) from one within it.
func readUvarint(br *bufio.Reader) (uint64, error) {
	var x uint64
	var shift uint
	for i := range binary.MaxVarintLen64 {
		b, err := br.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, errLength
			}
			return x | uint64(b)<<shift, nil
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, errLength
}

// complete reports whether the read buffer holds a whole next message, so
// that reading it waits for nothing.
func (r *reader) complete() bool {
	buf, _ := r.br.Peek(r.br.Buffered())
	if !r.c.enc.Binary() {
		// Blank lines are dropped here: a line end alone must not pass
		// for a message that is still on its way.
		for {
			switch {
			case bytes.HasPrefix(buf, []byte("\n")):
				_, _ = r.br.Discard(1)
				buf = buf[1:]
				continue
			case bytes.HasPrefix(buf, []byte("\r\n")):
				_, _ = r.br.Discard(2)
				buf = buf[2:]
				continue
			}
			return bytes.IndexByte(buf, '\n') >= 0
		}
	}
	size, n := binary.Uvarint(buf)
	return n > 0 && size <= uint64(len(buf)-n)
}
