package bench

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"strconv"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
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
// not empty, from the local address source when it is not nil. compressed
// says the server accepted permessage-deflate.
func (d *dialer) dialWebSocket(url string, source net.IP, subprotocol string) (nc net.Conn, src io.Reader, compressed bool, err error) {
	nd := &net.Dialer{Timeout: d.timeout}
	if source != nil {
		nd.LocalAddr = &net.TCPAddr{IP: source}
	}
	wd := ws.Dialer{Timeout: d.timeout, NetDial: nd.DialContext}
	if subprotocol != "" {
		wd.Protocols = []string{subprotocol}
	}
	if d.compress {
		wd.Extensions = []httphead.Option{wsflate.Parameters{
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
		}.Option()}
	}
	ctx := d.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	nc, br, hs, err := wd.Dial(ctx, url)
	if err != nil {
		key := "dial"
		var status ws.StatusError
		if errors.As(err, &status) {
			key = "http " + strconv.Itoa(int(status))
		}
		return nil, nil, false, &connectError{Key: key, err: err}
	}
	compressed = len(hs.Extensions) > 0
	if br != nil {
		// The server's first frames came with the handshake: br holds them
		// and reads on from the connection.
		return nc, br, compressed, nil
	}
	return nc, bufio.NewReaderSize(nc, readBufferSize), compressed, nil
}

// readLoop reads messages until the connection ends, answers pings, records
// the server's close code and hands every text or binary message to
// c.onFrame, which must not keep it; compressed says permessage-deflate
// was negotiated. It closes c.done when it returns.
func (c *conn) readLoop(src io.Reader, compressed bool) {
	defer close(c.done)
	defer c.nc.Close()
	rd := &wsutil.Reader{Source: src, State: ws.StateClientSide, MaxMessageSize: maxMessageSize}
	// deflated tells a message sent compressed (RSV1 on its first frame);
	// without the extension negotiated, such a frame is an error.
	var deflated wsflate.MessageState
	if compressed {
		rd.State |= ws.StateExtended
		rd.Extensions = []wsutil.RecvExtension{&deflated}
	}
	rd.OnIntermediate = c.control
	var msg, inflated bytes.Buffer
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
		if !deflated.IsCompressed() {
			c.onFrame(msg.Bytes())
			continue
		}
		// No context takeover: each message inflates on its own, once the
		// tail RFC 7692 §7.2.1 strips is put back.
		msg.Write([]byte{0x00, 0x00, 0xff, 0xff})
		inflated.Reset()
		fr := flate.NewReader(&msg)
		_, err = inflated.ReadFrom(io.LimitReader(fr, maxMessageSize+1))
		fr.Close()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) || inflated.Len() > maxMessageSize {
			return
		}
		c.onFrame(inflated.Bytes())
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
