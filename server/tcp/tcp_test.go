package tcp_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/server/tcp"
	"github.com/heraldhq/herald/tlsconfig/tlstest"
)

// TestEveryCommand runs each client command over TCP in both encodings,
// with a WebSocket client on the same hub to show the two transports meet.
func TestEveryCommand(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		n := startNode(t, ht.Options{}, tcp.Config{})
		alice := dial(t, n.addr, enc)
		res := alice.connect(ht.Token(t, "alice", nil))
		if res["client"] == "" || ht.Num(res["ping"]) == 0 {
			t.Fatalf("connect result %v", res)
		}
		bob, _ := n.Connect(t, ht.Token(t, "bob", nil)) // over WebSocket

		if r := alice.call(map[string]any{"type": "subscribe", "channel": "chat:x"}); r.ErrorCode() != 0 {
			t.Fatalf("subscribe: %v", r)
		}
		bob.Call(map[string]any{"type": "subscribe", "channel": "chat:x"})
		alice.waitFor(func(m ht.Msg) bool { return m.Type() == "join" }, "bob's join")

		r := alice.call(map[string]any{"type": "publish", "channel": "chat:x", "data": map[string]any{"text": "hi"}})
		if r.ErrorCode() != 0 || ht.Num(r.Result()["offset"]) != 1 {
			t.Fatalf("publish: %v", r)
		}
		m := alice.waitFor(func(m ht.Msg) bool { return m.Type() == "message" }, "own message")
		if ht.JSON(m["data"]) != `{"text":"hi"}` {
			t.Fatalf("message %v", m)
		}
		bob.Messages("chat:x", 1) // and over WebSocket

		r = alice.call(map[string]any{"type": "presence", "channel": "chat:x"})
		if clients, _ := r.Result()["clients"].(map[string]any); len(clients) != 2 {
			t.Fatalf("presence: %v", r)
		}
		r = alice.call(map[string]any{"type": "presence_stats", "channel": "chat:x"})
		if ht.Num(r.Result()["users"]) != 2 {
			t.Fatalf("presence_stats: %v", r)
		}
		r = alice.call(map[string]any{"type": "history", "channel": "chat:x", "limit": 10})
		if pubs, _ := r.Result()["publications"].([]any); len(pubs) != 1 {
			t.Fatalf("history: %v", r)
		}
		r = alice.call(map[string]any{"type": "send", "user": "bob", "data": map[string]any{"n": 1}})
		if r.ErrorCode() != 0 {
			t.Fatalf("send: %v", r)
		}
		bob.Push("direct")
		bob.Call(map[string]any{"type": "send", "user": "alice", "data": map[string]any{"n": 2}})
		d := alice.waitFor(func(m ht.Msg) bool { return m.Type() == "direct" }, "direct")
		if ht.JSON(d["data"]) != `{"n":2}` {
			t.Fatalf("direct %v", d)
		}
		r = alice.call(map[string]any{"type": "refresh", "token": ht.Token(t, "alice", nil)})
		if r.ErrorCode() != 0 {
			t.Fatalf("refresh: %v", r)
		}
		r = alice.call(map[string]any{"type": "unsubscribe", "channel": "chat:x"})
		if r.ErrorCode() != 0 {
			t.Fatalf("unsubscribe: %v", r)
		}
		r = alice.call(map[string]any{"type": "publish", "channel": "nope:x", "data": 1})
		if r.ErrorCode() == 0 {
			t.Fatalf("publish to an unknown namespace: %v", r)
		}
	})
}

// TestPipelined sends several commands in one write, and a JSON stream
// with "\r\n" line ends and blank lines: each gets its reply, in order.
func TestPipelined(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		n := startNode(t, ht.Options{}, tcp.Config{})
		c := dial(t, n.addr, enc)
		var batch []byte
		batch = append(batch, c.encode(map[string]any{"id": 1, "type": "connect", "token": ht.Token(t, "u", nil)})...)
		for i := 2; i <= 150; i++ { // more than one frame's 100 commands
			batch = append(batch, c.encode(map[string]any{"id": i, "type": "publish", "channel": "chat:p", "data": i})...)
		}
		if !enc.Binary() {
			batch = []byte(strings.ReplaceAll(string(batch), "\n", "\r\n\n"))
		}
		c.write(batch)
		for i := 1; i <= 150; i++ {
			m, err := c.read(5 * time.Second)
			if err != nil || m.ID() != i || m.ErrorCode() != 0 {
				t.Fatalf("reply %d: %v %v", i, m, err)
			}
		}
	})
}

func TestBadPreamble(t *testing.T) {
	n := startNode(t, ht.Options{}, tcp.Config{})
	c := dialNoPreamble(t, n.addr, protocol.JSON)
	c.write([]byte("herald.v2.json\n"))
	d := c.expectDisconnect(4500)
	if !strings.Contains(d["reason"].(string), "herald.v1.json") {
		t.Fatalf("reason %v", d)
	}
	// A preamble longer than any name is refused as soon as it is too long.
	c = dialNoPreamble(t, n.addr, protocol.JSON)
	c.write([]byte(strings.Repeat("x", 100)))
	c.expectDisconnect(4500)
	n.StillServes(t)
}

// TestSlowPreamble: a client that trickles (or never sends) its preamble is
// told so and closed at the preamble timeout, holding nothing longer.
func TestSlowPreamble(t *testing.T) {
	n := startNode(t, ht.Options{}, tcp.Config{PreambleTimeout: 200 * time.Millisecond})
	c := dialNoPreamble(t, n.addr, protocol.JSON)
	c.write([]byte("herald.v1"))
	d := c.expectDisconnect(4500)
	if d["reason"] != "preamble: timeout" {
		t.Fatalf("reason %v", d)
	}
}

// TestSlowConnect: a client that sends its preamble but trickles its
// connect command is closed by the hub's connect timeout.
func TestSlowConnect(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		n := startNode(t, ht.Options{Hub: hub.Config{ConnectTimeout: 300 * time.Millisecond}}, tcp.Config{})
		c := dial(t, n.addr, enc)
		full := c.encode(map[string]any{"id": 1, "type": "connect"})
		c.write(full[:len(full)/2])
		d := c.expectDisconnect(4500)
		if d["reason"] != "connect timeout" {
			t.Fatalf("reason %v", d)
		}
	})
}

// TestSlowMessage: a connected client that trickles a message cannot
// answer pings meanwhile, so the heartbeat bounds how long it holds one.
func TestSlowMessage(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		n := startNode(t, ht.Options{Hub: hub.Config{PingInterval: 200 * time.Millisecond, PongTimeout: 200 * time.Millisecond}}, tcp.Config{})
		c := dial(t, n.addr, enc)
		c.connect(ht.Token(t, "u", nil))
		// The heartbeat works: a pong keeps the connection.
		c.waitFor(func(m ht.Msg) bool { return m.Type() == "ping" }, "ping")
		c.send(map[string]any{"type": "pong"})
		full := c.encode(map[string]any{"id": 2, "type": "publish", "channel": "chat:x", "data": 1})
		c.write(full[:len(full)-3])
		c.expectDisconnect(4002)
	})
}

func TestMalformed(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		n := startNode(t, ht.Options{}, tcp.Config{})
		c := dial(t, n.addr, enc)
		c.connect(ht.Token(t, "u", nil))
		bad := []byte("{not json\n")
		if enc.Binary() {
			bad = []byte{3, 0xff, 0xff, 0xff}
		}
		c.write(bad)
		c.expectDisconnect(4500)
		n.StillServes(t)
	})
}

// TestOverlongLengthPrefix: a varint longer than 64 bits is 4500.
func TestOverlongLengthPrefix(t *testing.T) {
	n := startNode(t, ht.Options{}, tcp.Config{})
	c := dial(t, n.addr, protocol.Protobuf)
	c.write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	d := c.expectDisconnect(4500)
	if d["reason"] != "malformed length prefix" {
		t.Fatalf("reason %v", d)
	}
}

// TestOversize: a line or a length prefix past max_message_size is 1009,
// before the rest of the message is read (or even sent).
func TestOversize(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		n := startNode(t, ht.Options{}, tcp.Config{MaxMessageSize: 1024})
		c := dial(t, n.addr, enc)
		c.connect(ht.Token(t, "u", nil))
		// At the limit is fine.
		r := c.call(map[string]any{"type": "publish", "channel": "chat:x", "data": strings.Repeat("a", 900)})
		if r.ErrorCode() != 0 {
			t.Fatalf("publish: %v", r)
		}
		if enc.Binary() {
			c.write(binary.AppendUvarint(nil, 1<<30)) // and no body
		} else {
			c.write([]byte(strings.Repeat("a", 2000))) // and no line end
		}
		c.expectDisconnect(1009)
		n.StillServes(t)
	})
}

func TestInvalidUTF8(t *testing.T) {
	n := startNode(t, ht.Options{}, tcp.Config{})
	c := dial(t, n.addr, protocol.JSON)
	c.write([]byte("{\"type\":\"connect\",\"name\":\"\xff\xfe\"}\n"))
	c.expectDisconnect(1007)
}

// TestHalfClose: a client that shuts its write side after its commands
// gets their replies, then a disconnect push with 1000.
func TestHalfClose(t *testing.T) {
	n := startNode(t, ht.Options{}, tcp.Config{})
	c := dial(t, n.addr, protocol.JSON)
	c.send(map[string]any{"id": 1, "type": "connect", "token": ht.Token(t, "u", nil)})
	c.send(map[string]any{"id": 2, "type": "publish", "channel": "chat:x", "data": 1})
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.waitFor(func(m ht.Msg) bool { return m.ID() == 2 && m.ErrorCode() == 0 }, "publish reply")
	c.expectDisconnect(1000)
}

// TestSlowConsumer: a client that stops reading is cut with 4001, which it
// finds, whole, after what it had not read, once it reads again. Both ways
// to be cut: the write queue overflows while the socket still takes bytes
// (the push goes out through the queue), or a write stalls for the write
// timeout first (the push follows the rest of the stalled frame, written
// by the transport itself).
func TestSlowConsumer(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		for _, tc := range []struct {
			name    string
			queue   int // write queue bytes
			burst   int // publications between two checks
			timeout time.Duration
		}{
			{"overflow", 64 << 10, 16, 300 * time.Millisecond},
			// One at a time, into a queue far larger than the socket's
			// buffers (but within the node's outgoing budget, past which
			// the connection would be dropped without a push): the
			// writer drains it until the socket is full, then stalls.
			// The client has as long as the write timeout to read the
			// megabytes the socket holds.
			{"stall", 16 << 20, 1, 2 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := startNode(t, ht.Options{Hub: hub.Config{WriteQueueBytes: tc.queue}}, tcp.Config{WriteTimeout: tc.timeout})
				c := dial(t, n.addr, enc)
				c.connect(ht.Token(t, "u", nil))
				if r := c.call(map[string]any{"type": "subscribe", "channel": "news:x"}); r.ErrorCode() != 0 {
					t.Fatalf("subscribe: %v", r)
				}
				data := []byte(`"` + strings.Repeat("x", 32<<10) + `"`)
				wait.For(t, 20*time.Second, func() error {
					for range tc.burst {
						if _, err := n.Hub.Publish(context.Background(), "news:x", data, ""); err != nil {
							return err
						}
					}
					if n.Hub.Stats().SlowConsumers == 0 {
						return errors.New("no slow consumer yet")
					}
					return nil
				})
				c.expectDisconnect(4001)
			})
		}
	})
}

// TestConnectionLimits: the TCP listener counts against the same limits as
// the WebSocket endpoint; a connection past them is closed before a byte
// is read.
func TestConnectionLimits(t *testing.T) {
	n := startNode(t, ht.Options{Server: server.Config{MaxConnections: 2}}, tcp.Config{})
	ws, _ := n.Connect(t, ht.Token(t, "w", nil))
	_ = ws
	c := dial(t, n.addr, protocol.JSON)
	c.connect(ht.Token(t, "a", nil))
	over := dialNoPreamble(t, n.addr, protocol.JSON)
	over.expectEnd()
	// The limit is for open connections: closing one makes room.
	c.conn.Close()
	wait.For(t, 5*time.Second, func() error {
		c := dialNoPreamble(t, n.addr, protocol.JSON)
		defer c.conn.Close()
		// A connection the server still refuses is closed under the
		// write: that is a try to repeat, not a failure.
		hello := append([]byte("herald.v1.json\n"), c.encode(map[string]any{"id": 1, "type": "connect", "token": ht.Token(t, "b", nil)})...)
		if _, err := c.conn.Write(hello); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		m, err := c.read(5 * time.Second)
		if err != nil || m.ID() != 1 || m.ErrorCode() != 0 {
			return fmt.Errorf("connect: %v %v", m, err)
		}
		return nil
	})
}

func TestConnectRate(t *testing.T) {
	n := startNode(t, ht.Options{Server: server.Config{ConnectRatePerIP: 0.001, ConnectBurstPerIP: 1}}, tcp.Config{})
	c := dial(t, n.addr, protocol.JSON)
	c.connect(ht.Token(t, "a", nil))
	dialNoPreamble(t, n.addr, protocol.JSON).expectEnd()
}

// TestTLS serves TLS with client certificates: the certificate names the
// user, and plain TCP is refused.
func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srvCert := ca.Server(t, "127.0.0.1")
	cfg := &tls.Config{Certificates: []tls.Certificate{srvCert.TLS}, ClientCAs: ca.Pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	n := startNode(t, ht.Options{Hub: hub.Config{Anonymous: true}}, tcp.Config{TLS: cfg, ClientCertUser: true, PreambleTimeout: time.Second})
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		cli := ca.Client(t, "carol")
		c := dialTLS(t, n.addr, enc, &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{cli.TLS}, ServerName: "127.0.0.1"})
		res := c.connect("")
		if res["user"] != "carol" {
			t.Fatalf("connect result %v", res)
		}
		if r := c.call(map[string]any{"type": "publish", "channel": "chat:t", "data": 1}); r.ErrorCode() != 0 {
			t.Fatalf("publish: %v", r)
		}
	})
	plain := dial(t, n.addr, protocol.JSON)
	if _, err := plain.read(5 * time.Second); err == nil {
		t.Fatal("plain TCP read a message from a TLS listener")
	}
}

// TestShutdown: a drain tells TCP clients 1001 and ends their
// connections, and a connection in its preamble is closed.
func TestShutdown(t *testing.T) {
	n := startNode(t, ht.Options{}, tcp.Config{})
	c := dial(t, n.addr, protocol.JSON)
	c.connect(ht.Token(t, "u", nil))
	waiting := dialNoPreamble(t, n.addr, protocol.JSON)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 2)
	go func() { done <- n.TCP.Shutdown(ctx) }()
	go func() { done <- n.Hub.Shutdown(ctx) }()
	d := c.expectDisconnect(1001)
	if d["reconnect"] != true {
		t.Fatalf("disconnect %v", d)
	}
	waiting.expectEnd()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
