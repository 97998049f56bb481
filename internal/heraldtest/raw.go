package heraldtest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RawConn is a WebSocket connection driven byte by byte, for sending what no
// well-behaved client library would: invalid UTF-8, absurd frame lengths,
// unmasked frames.
type RawConn struct {
	t    testing.TB
	Conn net.Conn
	R    *bufio.Reader
}

// DialRaw performs a WebSocket handshake by hand on addr (host:port) for
// path and returns the connection after the 101 response.
func DialRaw(t testing.TB, addr, path string, header map[string]string) *RawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
		path, addr, base64.StdEncoding.EncodeToString(key))
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatalf("write handshake: %v", err)
	}
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("read handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d", resp.StatusCode)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return &RawConn{t: t, Conn: conn, R: r}
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// WriteFrame writes one masked frame with the given first byte (FIN and
// opcode) and payload.
func (c *RawConn) WriteFrame(first byte, payload []byte) {
	c.t.Helper()
	hdr := []byte{first}
	n := len(payload)
	switch {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := []byte{1, 2, 3, 4}
	hdr = append(hdr, mask...)
	masked := make([]byte, n)
	for i := range payload {
		masked[i] = payload[i] ^ mask[i%4]
	}
	if _, err := c.Conn.Write(append(hdr, masked...)); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

// WriteText writes one masked text frame.
func (c *RawConn) WriteText(payload []byte) { c.WriteFrame(0x81, payload) }

// WriteBytes writes raw bytes.
func (c *RawConn) WriteBytes(b []byte) {
	c.t.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Frame is one frame read from the server.
type Frame struct {
	Opcode  byte
	Payload []byte
}

// CloseCode returns the code of a close frame.
func (f Frame) CloseCode() int {
	if f.Opcode != 8 || len(f.Payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}

// ReadFrame reads one unmasked server frame within d.
func (c *RawConn) ReadFrame(d time.Duration) (Frame, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	var h [2]byte
	if _, err := io.ReadFull(c.R, h[:]); err != nil {
		return Frame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.R, b[:]); err != nil {
			return Frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.R, b[:]); err != nil {
			return Frame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.R, p); err != nil {
		return Frame{}, err
	}
	return Frame{Opcode: h[0] & 0x0f, Payload: p}, nil
}

// ReadUntilClose reads frames until a close frame and returns its code and
// the text frames before it.
func (c *RawConn) ReadUntilClose(d time.Duration) (int, []string) {
	c.t.Helper()
	var texts []string
	deadline := time.Now().Add(d)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("no close frame: %v (texts %q)", err, texts)
		}
		switch f.Opcode {
		case 8:
			return f.CloseCode(), texts
		case 1:
			texts = append(texts, string(f.Payload))
		}
	}
}
