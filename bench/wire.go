package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// The clients speak WebSocket through gobwas/ws, the library Herald's server
// is built on, at the frame level: one goroutine per connection reads into a
// 4 KiB buffer and a reused message buffer, and a write is one frame in one
// syscall. An idle connection costs a goroutine and its buffers, with no
// net/http client machinery per connection, so that one process can hold the
// tens of thousands of clients a fan-out or idle run opens.

const (
	// readBufferSize is each connection's read buffer.
	readBufferSize = 4096
	// maxMessageSize bounds one received message (a history page can be
	// large; a bench client never needs more).
	maxMessageSize = 16 << 20
)

// errClosed ends the read loop when the server closed the connection.
var errClosed = errors.New("closed by the server")

// dialWebSocket opens a WebSocket to url, offering subprotocol when it is
// not empty, from the local address source when it is not nil.
func (d *dialer) dialWebSocket(url string, source net.IP, subprotocol string) (net.Conn, io.Reader, error) {
	nd := &net.Dialer{Timeout: d.timeout}
	if source != nil {
		nd.LocalAddr = &net.TCPAddr{IP: source}
	}
	wd := ws.Dialer{Timeout: d.timeout, NetDial: nd.DialContext}
	if subprotocol != "" {
		wd.Protocols = []string{subprotocol}
	}
	ctx := d.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	nc, br, _, err := wd.Dial(ctx, url)
	if err != nil {
		key := "dial"
		var status ws.StatusError
		if errors.As(err, &status) {
			key = "http " + strconv.Itoa(int(status))
		}
		return nil, nil, &connectError{Key: key, err: err}
	}
	if br != nil {
		// The server's first frames came with the handshake: br holds them
		// and reads on from the connection.
		return nc, br, nil
	}
	return nc, bufio.NewReaderSize(nc, readBufferSize), nil
}

// readLoop reads messages until the connection ends, answers pings, records
// the server's close code and hands every text or binary message to
// c.onFrame, which must not keep it. It closes c.done when it returns.
func (c *conn) readLoop(src io.Reader) {
	defer close(c.done)
	defer c.nc.Close()
	rd := &wsutil.Reader{Source: src, State: ws.StateClientSide, MaxMessageSize: maxMessageSize}
	rd.OnIntermediate = c.control
	var msg bytes.Buffer
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return
		}
		if h.OpCode.IsControl() {
			if c.control(h, rd) != nil {
				return
			}
			continue
		}
		msg.Reset()
		if _, err := msg.ReadFrom(rd); err != nil {
			return
		}
		c.onFrame(msg.Bytes())
	}
}

// control handles a control frame: a ping is answered with a pong, a close
// is echoed and ends the read loop with errClosed.
func (c *conn) control(h ws.Header, r io.Reader) error {
	p := make([]byte, h.Length) // at most 125 bytes (RFC 6455 §5.5)
	if _, err := io.ReadFull(r, p); err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpPing:
		return c.writeFrame(ws.OpPong, p)
	case ws.OpClose:
		code, _ := ws.ParseCloseFrameData(p)
		c.closeCode = int(code)
		if len(p) >= 2 {
			p = p[:2]
		}
		c.writeFrame(ws.OpClose, p)
		return errClosed
	}
	return nil
}

// writeFrame writes one masked frame with one write call. Safe for
// concurrent use.
func (c *conn) writeFrame(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	b := bytes.NewBuffer(c.wbuf[:0])
	if err := ws.WriteHeader(b, h); err != nil {
		return err
	}
	n := b.Len()
	b.Write(payload)
	c.wbuf = b.Bytes()
	ws.Cipher(c.wbuf[n:], h.Mask, 0)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// closeWebSocket says goodbye (1000) and closes the connection; the read
// loop then ends.
func (c *conn) closeWebSocket() {
	if c.nc == nil {
		return
	}
	c.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	c.nc.Close()
}
