package tcp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server/tcp"
)

// node is a test server with a TCP listener beside its WebSocket endpoint,
// on one hub, admitted by the WebSocket server's limits.
type node struct {
	*ht.Server
	TCP  *tcp.Server
	addr string
}

// startNode starts a test server and a TCP listener on a loopback port;
// both stop when the test ends, side by side as herald serve stops them.
func startNode(t testing.TB, opts ht.Options, cfg tcp.Config) *node {
	t.Helper()
	s := ht.Start(t, opts)
	cfg.Gate = s.Server
	ts := tcp.New(cfg, s.Hub)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- ts.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		down := make(chan error, 1)
		go func() { down <- ts.Shutdown(ctx) }()
		s.Stop()
		if err := <-down; err != nil {
			t.Errorf("tcp shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, tcp.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return &node{Server: s, TCP: ts, addr: l.Addr().String()}
}

// rawClient speaks the TCP transport by hand: every server message comes
// back as the JSON encoding spells it, whichever encoding is on the wire.
type rawClient struct {
	t      testing.TB
	conn   net.Conn
	br     *bufio.Reader
	enc    protocol.Encoding
	nextID int
	// skipped holds what call read past while waiting for its reply, for
	// waitFor to find first.
	skipped []ht.Msg
}

// dial opens a connection and sends the preamble of enc.
func dial(t testing.TB, addr string, enc protocol.Encoding) *rawClient {
	t.Helper()
	c := dialNoPreamble(t, addr, enc)
	c.write([]byte(enc.Subprotocol() + "\n"))
	return c
}

func dialNoPreamble(t testing.TB, addr string, enc protocol.Encoding) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return newRawClient(t, conn, enc)
}

func dialTLS(t testing.TB, addr string, enc protocol.Encoding, cfg *tls.Config) *rawClient {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial tls: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := newRawClient(t, conn, enc)
	c.write([]byte(enc.Subprotocol() + "\n"))
	return c
}

func newRawClient(t testing.TB, conn net.Conn, enc protocol.Encoding) *rawClient {
	return &rawClient{t: t, conn: conn, br: bufio.NewReader(conn), enc: enc}
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// encode returns cmd, shaped like a JSON command, as it goes on the
// stream in c's encoding.
func (c *rawClient) encode(cmd map[string]any) []byte {
	c.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		c.t.Fatal(err)
	}
	if !c.enc.Binary() {
		return append(b, '\n')
	}
	var pc protocol.Command
	if err := json.Unmarshal(b, &pc); err != nil {
		c.t.Fatalf("command %s: %v", b, err)
	}
	out, err := protocol.Protobuf.AppendCommand(nil, &pc)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *rawClient) send(cmd map[string]any) { c.write(c.encode(cmd)) }

// call sends cmd with a fresh id and returns its reply, skipping pushes.
func (c *rawClient) call(cmd map[string]any) ht.Msg {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	cmd["id"] = id
	c.send(cmd)
	for {
		m, err := c.read(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for reply %d: %v", id, err)
		}
		if m.ID() == id {
			return m
		}
		c.skipped = append(c.skipped, m)
	}
}

func (c *rawClient) connect(token string) map[string]any {
	c.t.Helper()
	cmd := map[string]any{"type": "connect"}
	if token != "" {
		cmd["token"] = token
	}
	r := c.call(cmd)
	if r.ErrorCode() != 0 {
		c.t.Fatalf("connect: %v", r)
	}
	return r.Result()
}

// read returns the next server message.
func (c *rawClient) read(d time.Duration) (ht.Msg, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	var raw []byte
	if c.enc.Binary() {
		size, err := binary.ReadUvarint(c.br)
		if err != nil {
			return nil, err
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(c.br, msg); err != nil {
			return nil, err
		}
		frame := binary.AppendUvarint(nil, size)
		frame = append(frame, msg...)
		err = protocol.Protobuf.DecodeServerFrame(frame, func(m *protocol.ServerMessage) error {
			raw, err = ht.ServerMessageJSON(m)
			return err
		})
		if err != nil {
			return nil, err
		}
	} else {
		line, err := c.br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		raw = line
	}
	var m ht.Msg
	if err := json.Unmarshal(raw, &m); err != nil {
		c.t.Fatalf("server sent %q: %v", raw, err)
	}
	return m, nil
}

// waitFor reads until a message matches.
func (c *rawClient) waitFor(match func(ht.Msg) bool, what string, args ...any) ht.Msg {
	c.t.Helper()
	for i, m := range c.skipped {
		if match(m) {
			c.skipped = c.skipped[i+1:]
			return m
		}
	}
	c.skipped = nil
	for {
		m, err := c.read(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for "+what+": %v", append(args, err)...)
		}
		if match(m) {
			return m
		}
	}
}

// expectDisconnect reads until the disconnect push, checks its code, and
// then that the server closes the connection.
func (c *rawClient) expectDisconnect(code int) ht.Msg {
	c.t.Helper()
	d := c.waitFor(func(m ht.Msg) bool { return m.Type() == "disconnect" }, "disconnect %d", code)
	if got := ht.Num(d["code"]); got != code {
		c.t.Fatalf("disconnect %v, want code %d", d, code)
	}
	c.expectEnd()
	return d
}

// expectEnd checks that the server closes the connection with nothing
// more than what is left to read, then closes it too, as a client does at
// the end of the stream.
func (c *rawClient) expectEnd() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(c.br)
	c.conn.Close()
	if err != nil {
		c.t.Fatalf("waiting for the end of the stream: %v (after %q)", err, rest)
	}
	if len(rest) > 0 {
		c.t.Fatalf("after the disconnect push: %q", rest)
	}
}
