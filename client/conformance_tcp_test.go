package client_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// The conformance runner over the raw TCP listener (PROTOCOL.md §3.4): the
// same vectors, framed as TCP frames them. The close code of a vector's
// expectClose is the one the last disconnect push carried.

// tcpOnlyWebSocket names the vectors that test what only WebSocket has,
// with the reason; the TCP run skips them.
var tcpOnlyWebSocket = map[string]string{
	"010-too-many-commands.json": "TCP has no frames: max_frame_commands refuses nothing there",
}

// dialVectorTCP opens a raw TCP connection and names the encoding.
func dialVectorTCP(addr string, enc protocol.Encoding) (*vectorConn, error) {
	conn, err := net.DialTimeout("tcp", addr, expectTimeout)
	if err != nil {
		return nil, err
	}
	c := &vectorConn{tcp: conn, enc: enc, events: make(chan event, 1024), done: make(chan struct{})}
	if err := c.writeTCP([]byte(enc.Subprotocol() + "\n")); err != nil {
		conn.Close()
		return nil, err
	}
	go c.readTCP()
	return c, nil
}

// writeTCP writes b, a command or a batch of them (a sendRaw's text
// included), ending JSON with the line end the stream needs.
func (c *vectorConn) writeTCP(b []byte) error {
	if !c.enc.Binary() {
		b = append(b[:len(b):len(b)], '\n')
	}
	_ = c.tcp.SetWriteDeadline(time.Now().Add(expectTimeout))
	_, err := c.tcp.Write(b)
	return err
}

// readTCP reads messages until the stream ends; the end is a close event
// with the code of the last disconnect push, or 1006 without one.
func (c *vectorConn) readTCP() {
	defer close(c.done)
	defer close(c.events)
	br := bufio.NewReader(c.tcp)
	code := 1006
	for {
		msg, err := c.nextTCP(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !isClosed(err) {
				c.events <- event{err: err}
			}
			c.events <- event{close: code}
			return
		}
		if isDisconnect(msg) {
			var d struct{ Code int }
			_ = json.Unmarshal(msg, &d)
			code = d.Code
		}
		c.events <- event{msg: msg}
	}
}

// nextTCP reads one message off the stream, in the JSON encoding's form.
func (c *vectorConn) nextTCP(br *bufio.Reader) ([]byte, error) {
	if !c.enc.Binary() {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		return line[:len(line)-1], nil
	}
	size, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	frame := binary.AppendUvarint(nil, size)
	frame = append(frame, make([]byte, size)...)
	if _, err := io.ReadFull(br, frame[len(frame)-int(size):]); err != nil {
		return nil, err
	}
	var out []byte
	err = protocol.Protobuf.DecodeServerFrame(frame, func(m *protocol.ServerMessage) error {
		out, err = ht.ServerMessageJSON(m)
		return err
	})
	return out, err
}

// isClosed reports a read that failed because this side closed the
// connection (a step's close, or the run's end).
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// isDisconnect reports whether msg is a disconnect push.
func isDisconnect(msg []byte) bool {
	var m struct {
		ID   uint32 `json:"id"`
		Type string `json:"type"`
	}
	return json.Unmarshal(msg, &m) == nil && m.ID == 0 && m.Type == protocol.PushDisconnect
}
