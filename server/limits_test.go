package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

func TestRateLimit(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{CommandRate: 0.01, CommandBurst: 3, RateLimitStrikes: 5}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		var codes []int
		for i := 0; i < 7; i++ {
			codes = append(codes, c.Call(map[string]any{"type": "presence_stats", "channel": "chat:x"}).ErrorCode())
		}
		want := "[0 0 0 110 110 110 110]"
		if fmt.Sprint(codes) != want {
			t.Fatalf("codes %v, want %s", codes, want)
		}
		// The fifth strike in a row closes the connection.
		c.Send(map[string]any{"id": 100, "type": "presence_stats", "channel": "chat:x"})
		c.ExpectClose(4004)
		stillServes(t, s)
	})
}

func TestMessageTooBig(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Server: server.Config{MaxMessageSize: 1024}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Send(map[string]any{"type": "publish", "channel": "chat:x", "data": strings.Repeat("a", 2000)})
		if code := c.WaitClosed(5 * time.Second); code != websocket.StatusMessageTooBig {
			t.Fatalf("close code %d, want 1009", code)
		}
		stillServes(t, s)
	})
}

func TestInvalidUTF8(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	raw := ht.DialRaw(t, s.Addr(), "/ws", nil)
	raw.WriteText([]byte("{\"type\":\"connect\",\"name\":\"\xff\xfe\"}"))
	code, _ := raw.ReadUntilClose(5 * time.Second)
	if code != 1007 {
		t.Fatalf("close code %d, want 1007", code)
	}
	stillServes(t, s)
}

func TestBinaryFrameOnJSON(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	raw := ht.DialRaw(t, s.Addr(), "/ws", nil)
	raw.WriteFrame(0x82, []byte{1, 2, 3})
	code, _ := raw.ReadUntilClose(5 * time.Second)
	if code != 1003 {
		t.Fatalf("close code %d, want 1003", code)
	}
}

// TestHugeFrameLength sends a frame whose 64-bit length has its top bit set.
// gws v1.8.9 panics on it; the server must close that connection with 1002
// and go on serving.
func TestHugeFrameLength(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	raw := ht.DialRaw(t, s.Addr(), "/ws", nil)
	raw.WriteBytes([]byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})
	code, _ := raw.ReadUntilClose(5 * time.Second)
	if code != 1002 {
		t.Fatalf("close code %d, want 1002", code)
	}
	stillServes(t, s)
}

func TestUnmaskedFrame(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	raw := ht.DialRaw(t, s.Addr(), "/ws", nil)
	raw.WriteBytes([]byte{0x81, 2, '{', '}'})
	code, _ := raw.ReadUntilClose(5 * time.Second)
	if code != 1002 {
		t.Fatalf("close code %d, want 1002", code)
	}
}

func TestRFCPing(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	raw := ht.DialRaw(t, s.Addr(), "/ws", nil)
	raw.WriteFrame(0x89, []byte("hb"))
	f, err := raw.ReadFrame(5 * time.Second)
	if err != nil || f.Opcode != 0xA || string(f.Payload) != "hb" {
		t.Fatalf("pong: %+v %v", f, err)
	}
}

func TestConnectionLimits(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		t.Run("total", func(t *testing.T) {
			s := ht.Start(t, ht.Options{Encoding: enc, Server: server.Config{MaxConnections: 2}})
			s.Connect(t, ht.Token(t, "a", nil))
			s.Connect(t, ht.Token(t, "b", nil))
			c := s.Dial(t)
			c.ExpectClose(4005)
		})
		t.Run("per ip", func(t *testing.T) {
			s := ht.Start(t, ht.Options{Encoding: enc, Server: server.Config{MaxConnectionsPerIP: 1}})
			first, _ := s.Connect(t, ht.Token(t, "a", nil))
			c := s.Dial(t)
			c.ExpectClose(4005)
			first.Conn.CloseNow()
			ht.Eventually(t, 2*time.Second, func() bool { return s.Hub.Info().Clients == 0 }, "first connection gone")
			stillServes(t, s)
		})
	})
}

func TestHeartbeat(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{PingInterval: 100 * time.Millisecond, PongTimeout: time.Second}})
		t.Run("answered", func(t *testing.T) {
			c, res := s.Connect(t, ht.Token(t, "u", nil))
			if num(res["ping"]) != 0 {
				t.Fatalf("ping %v: whole seconds, rounded down", res["ping"])
			}
			for i := 0; i < 4; i++ {
				c.Push("ping")
				c.Send(map[string]any{"type": "pong"})
			}
			if r := c.Call(map[string]any{"type": "presence_stats", "channel": "chat:x"}); r.ErrorCode() != 0 {
				t.Fatalf("connection unusable after pongs: %v", r)
			}
		})
		t.Run("unanswered", func(t *testing.T) {
			c, _ := s.Connect(t, ht.Token(t, "u", nil))
			c.Push("ping")
			c.ExpectClose(4002)
		})
	})
}

func TestTokenExpiry(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{RefreshNotice: time.Second}})
		exp := time.Now().Add(1500*time.Millisecond).Unix() + 1
		c, _ := s.Connect(t, ht.Token(t, "u", map[string]any{"exp": exp}))
		rn := c.Push("refresh_needed")
		if int64(num(rn["expires"])) != exp {
			t.Fatalf("refresh_needed %v", rn)
		}
		t.Run("refresh extends", func(t *testing.T) {
			newExp := time.Now().Add(time.Hour).Unix()
			r := c.Call(map[string]any{"type": "refresh", "token": ht.Token(t, "u", map[string]any{"exp": newExp})})
			if int64(num(r.Result()["expires"])) != newExp {
				t.Fatalf("refresh %v", r)
			}
			if r := c.Call(map[string]any{"type": "refresh", "token": ht.Token(t, "someone-else", nil)}); r.ErrorCode() != 101 {
				t.Fatalf("refresh as another user: %v", r)
			}
		})
		t.Run("unrefreshed closes 4003", func(t *testing.T) {
			exp := time.Now().Add(time.Second).Unix() + 1
			c, _ := s.Connect(t, ht.Token(t, "v", map[string]any{"exp": exp}))
			c.ExpectClose(4003)
		})
	})
}

func TestHandshakeValidation(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	get := func(mutate func(*http.Request)) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/ws", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		mutate(req)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get(func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "12") }); r.StatusCode != 426 || r.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf("wrong version: %d %v", r.StatusCode, r.Header)
	}
	if r := get(func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "c2hvcnQ=") }); r.StatusCode != 400 {
		t.Errorf("short key: %d", r.StatusCode)
	}
	if r := get(func(r *http.Request) { r.Header.Del("Upgrade") }); r.StatusCode != 426 {
		t.Errorf("no upgrade: %d", r.StatusCode)
	}
	if r := get(func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }); r.StatusCode != 403 {
		t.Errorf("foreign origin: %d", r.StatusCode)
	}
	if r := get(func(r *http.Request) { r.Header.Set("Origin", "http://"+s.Addr()) }); r.StatusCode != 101 {
		t.Errorf("same origin: %d", r.StatusCode)
	}
	// HTTP/1.0, by hand: net/http always speaks 1.1.
	raw := rawHTTP(t, s.Addr(), "GET /ws HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if !strings.HasPrefix(raw, "HTTP/1.0 400") && !strings.HasPrefix(raw, "HTTP/1.1 400") {
		t.Errorf("HTTP/1.0: %q", raw)
	}
}

func TestAllowedOrigins(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"}}})
	for origin, want := range map[string]bool{
		"https://app.example.com":  true,
		"https://a.example.org":    true,
		"https://example.org":      false,
		"http://app.example.com":   false,
		"https://evil.example.com": false,
	} {
		conn, resp, err := websocket.Dial(t.Context(), s.WSURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if conn != nil {
			conn.CloseNow()
		}
		if (err == nil) != want {
			t.Errorf("origin %s: err %v (status %v), want allowed=%v", origin, err, resp, want)
		}
	}
}

func TestSubprotocol(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c := ht.Dial(t, s.WSURL, &websocket.DialOptions{Subprotocols: []string{"herald.v1.json"}})
	if c.Conn.Subprotocol() != "herald.v1.json" {
		t.Fatalf("subprotocol %q", c.Conn.Subprotocol())
	}
	c2 := ht.Dial(t, s.WSURL, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if c2.Conn.Subprotocol() != "" {
		t.Fatalf("unknown subprotocol answered with %q", c2.Conn.Subprotocol())
	}
	if r := c2.Call(map[string]any{"type": "connect", "token": ht.Token(t, "u", nil)}); r.ErrorCode() != 0 {
		t.Fatalf("JSON after unknown subprotocol: %v", r)
	}
}

func TestEcho(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true}})
	c := ht.Dial(t, "ws://"+s.Addr()+"/echo", nil)
	c.Send(`{"hello":"echo"}`)
	if m := c.Wait(func(m ht.Msg) bool { return m["hello"] == "echo" }, "echo"); m == nil {
		t.Fatal("no echo")
	}
	off := ht.Start(t, ht.Options{})
	if code, _ := off.HTTPGet("/echo"); code != 404 {
		t.Fatalf("echo when off: %d", code)
	}
}

// TestSlowHeaders: a client that never finishes its request headers is cut
// off after ReadHeaderTimeout.
func TestSlowHeaders(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{ReadHeaderTimeout: 200 * time.Millisecond}})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n"))
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn)
	if err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("connection not closed by the server in time: %v after %v", err, time.Since(start))
	}
}

// dialFrom returns dial options whose connections leave from ip: every
// address of 127/8 reaches the loopback listener, so tests can play several
// clients' addresses.
func dialFrom(ip string, subprotocols ...string) *websocket.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &websocket.DialOptions{
		Subprotocols: subprotocols,
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: d.DialContext}},
	}
}

// TestConnectRatePerIP: past its burst, one address's upgrades are answered
// 429 with Retry-After before any handshake; other addresses are not
// affected.
func TestConnectRatePerIP(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{ConnectRatePerIP: 0.01, ConnectBurstPerIP: 3}})
	for i := 0; i < 3; i++ {
		c := ht.Dial(t, s.WSURL, dialFrom("127.0.0.3"))
		c.Conn.CloseNow()
	}
	conn, resp, err := websocket.Dial(t.Context(), s.WSURL, dialFrom("127.0.0.3"))
	if err == nil {
		conn.CloseNow()
		t.Fatal("fourth connection from one address accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "100" {
		t.Fatalf("fourth connection: %v, response %+v", err, resp)
	}
	if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
		t.Fatalf("refusal carries handshake headers: %v", resp.Header)
	}
	// Another address has its own bucket.
	other := ht.Dial(t, s.WSURL, dialFrom("127.0.0.2"))
	if r := other.Call(map[string]any{"type": "connect", "token": ht.Token(t, "u", nil)}); r.ErrorCode() != 0 {
		t.Fatalf("connect from another address: %v", r)
	}
	stillServes(t, s)
}

// TestConnectRatePerIPOff: a negative rate turns the limit off.
func TestConnectRatePerIPOff(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{ConnectRatePerIP: -1, ConnectBurstPerIP: 1}})
	for i := 0; i < 5; i++ {
		c := ht.Dial(t, s.WSURL, nil)
		c.Conn.CloseNow()
	}
	stillServes(t, s)
}

// TestSlowHeadersThenServes: after a slowloris client is cut off, the
// server still serves.
func TestSlowHeadersThenServes(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{ReadHeaderTimeout: 200 * time.Millisecond}})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("half-sent request not dropped: %v", err)
	}
	stillServes(t, s)
}

// TestPartialFrameBeforeConnect: a client that upgrades and sends only
// part of a frame is closed with 4500 at the connect timeout, however long
// it keeps the frame open.
func TestPartialFrameBeforeConnect(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{ConnectTimeout: 200 * time.Millisecond}})
	raw := ht.DialRaw(t, s.Addr(), "/ws", nil)
	// A masked text frame announcing 100 bytes, of which 3 arrive.
	raw.WriteBytes([]byte{0x81, 0x80 | 100, 1, 2, 3, 4, 'a', 'b', 'c'})
	if code, _ := raw.ReadUntilClose(5 * time.Second); code != 4500 {
		t.Fatalf("close code %d, want 4500", code)
	}
	stillServes(t, s)
}

// TestPublishRate: publishes have their own bucket within the command
// rate; over it they get 110 (temporary), other commands still run, and
// strikes in a row close with 4004.
func TestPublishRate(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{PublishRate: 0.01, PublishBurst: 2, RateLimitStrikes: 3}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		pub := func() ht.Msg {
			return c.Call(map[string]any{"type": "publish", "channel": "chat:r", "data": map[string]any{"n": 1}})
		}
		for i := 0; i < 2; i++ {
			if r := pub(); r.ErrorCode() != 0 {
				t.Fatalf("publish %d: %v", i, r)
			}
		}
		r := pub()
		if e, _ := r["error"].(map[string]any); r.ErrorCode() != 110 || e["temporary"] != true {
			t.Fatalf("over the publish rate: %v, want temporary 110", r)
		}
		if r := c.Call(map[string]any{"type": "send", "user": "v", "data": 1}); r.ErrorCode() != 110 {
			t.Fatalf("send shares the publish bucket: %v", r)
		}
		// Other commands are not publishes; one that runs resets the strikes.
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:r"}); r.ErrorCode() != 0 {
			t.Fatalf("subscribe while publish-limited: %v", r)
		}
		pub()
		pub()
		c.Send(map[string]any{"id": 99, "type": "publish", "channel": "chat:r", "data": 1})
		c.ExpectClose(4004)
		stillServes(t, s)
	})
}

// TestReadRate: presence, presence_stats and history share a bucket.
func TestReadRate(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{ReadRate: 0.01, ReadBurst: 3}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		var codes []int
		for _, typ := range []string{"presence", "presence_stats", "history", "history", "presence"} {
			codes = append(codes, c.Call(map[string]any{"type": typ, "channel": "chat:r"}).ErrorCode())
		}
		if fmt.Sprint(codes) != "[0 0 0 110 110]" {
			t.Fatalf("codes %v", codes)
		}
		if r := c.Call(map[string]any{"type": "publish", "channel": "chat:r", "data": 1}); r.ErrorCode() != 0 {
			t.Fatalf("publish while read-limited: %v", r)
		}
		stillServes(t, s)
	})
}

// TestChannelPublishRate: a namespace's publish_rate holds for all the
// channel's client publishers together, each channel apart, and not for
// the server API.
func TestChannelPublishRate(t *testing.T) {
	ns := ht.DefaultNamespaces()
	ns["limited"] = hub.Namespace{AllowPublish: hub.AccessAny, PublishRate: 0.01, PublishBurst: 2}
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{Namespaces: ns}})
		a, _ := s.Connect(t, ht.Token(t, "a", nil))
		b, _ := s.Connect(t, ht.Token(t, "b", nil))
		pub := func(c *ht.Client, ch string) int {
			return c.Call(map[string]any{"type": "publish", "channel": ch, "data": 1}).ErrorCode()
		}
		codes := []int{pub(a, "limited:x"), pub(b, "limited:x"), pub(a, "limited:x"), pub(b, "limited:x"), pub(b, "limited:y")}
		if fmt.Sprint(codes) != "[0 0 110 110 0]" {
			t.Fatalf("codes %v", codes)
		}
		s.MustAPI("publish", map[string]any{"channel": "limited:x", "data": 1})
		stillServes(t, s)
	})
}

// TestMaxPresenceMembers: presence lists at most MaxPresenceMembers
// clients, the smallest ids, to clients and the API; presence_stats counts
// everyone.
func TestMaxPresenceMembers(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{MaxPresenceMembers: 2}})
		var ids []string
		var first *ht.Client
		for i := 0; i < 4; i++ {
			c, res := s.Connect(t, ht.Token(t, fmt.Sprint("u", i), nil))
			c.Call(map[string]any{"type": "subscribe", "channel": "chat:p"})
			ids = append(ids, res["client"].(string))
			if first == nil {
				first = c
			}
		}
		slices.Sort(ids)
		want := fmt.Sprint(ids[:2])
		r := first.Call(map[string]any{"type": "presence", "channel": "chat:p"})
		if got := fmt.Sprint(slices.Sorted(maps.Keys(r.Result()["clients"].(map[string]any)))); got != want {
			t.Fatalf("presence lists %s, want %s", got, want)
		}
		api := s.MustAPI("presence", map[string]any{"channel": "chat:p"})
		if got := fmt.Sprint(slices.Sorted(maps.Keys(api["clients"].(map[string]any)))); got != want {
			t.Fatalf("API presence lists %s, want %s", got, want)
		}
		st := first.Call(map[string]any{"type": "presence_stats", "channel": "chat:p"}).Result()
		if num(st["clients"]) != 4 || num(st["users"]) != 4 {
			t.Fatalf("presence_stats %v, want 4 and 4", st)
		}
	})
}

// TestFrameCommandLimit: a frame batching more than MaxFrameCommands
// commands is refused whole with 4500; one at the limit runs.
func TestFrameCommandLimit(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{MaxFrameCommands: 3}})
		frame := func(cmds ...*protocol.Command) []byte {
			var b []byte
			for i, cmd := range cmds {
				if i > 0 {
					b = append(b, enc.Separator()...)
				}
				b, _ = enc.AppendCommand(b, cmd)
			}
			return b
		}
		pubCmd := func(id uint32) *protocol.Command {
			return &protocol.Command{ID: id, Type: "publish", Channel: "chat:batch", Data: []byte(`1`)}
		}
		c := s.Dial(t)
		c.Send(frame(&protocol.Command{ID: 1, Type: "connect", Token: ht.Token(t, "u", nil)}, pubCmd(2), pubCmd(3)))
		for id := 1; id <= 3; id++ {
			if r := c.Wait(func(m ht.Msg) bool { return m.ID() == id }, "reply %d", id); r.ErrorCode() != 0 {
				t.Fatalf("reply %v", r)
			}
		}
		c.Send(frame(pubCmd(4), pubCmd(5), pubCmd(6), pubCmd(7)))
		c.ExpectClose(4500)
		if !strings.Contains(c.CloseReason, "too many commands") {
			t.Fatalf("close reason %q", c.CloseReason)
		}
		h := s.MustAPI("history", map[string]any{"channel": "chat:batch"})
		if n := len(h["publications"].([]any)); n != 2 {
			t.Fatalf("%d publications, want 2: none of the refused frame runs", n)
		}
		stillServes(t, s)
	})
}

// nested returns a JSON value of depth n.
func nested(n int) string {
	return strings.Repeat("[", n) + strings.Repeat("]", n)
}

// TestDataDepth: JSON data nested past MaxDataDepth is refused with 107 and
// the connection lives on; Protobuf data is opaque and passes.
func TestDataDepth(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{MaxDataDepth: 8}})
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	call := func(typ, data string) int {
		cmd := `{"id":7,"type":"` + typ + `","channel":"chat:d","user":"v","data":` + data + `}`
		c.Send(cmd)
		return c.Wait(func(m ht.Msg) bool { return m.ID() == 7 }, "reply").ErrorCode()
	}
	if code := call("publish", nested(8)); code != 0 {
		t.Fatalf("depth 8: %d", code)
	}
	if code := call("publish", `{"s":"[[[[[[[[[[[[","a":[1]}`); code != 0 {
		t.Fatalf("brackets in a string counted: %d", code)
	}
	if code := call("publish", nested(9)); code != 107 {
		t.Fatalf("publish depth 9: %d, want 107", code)
	}
	if code := call("send", `{"a":`+nested(9)+`}`); code != 107 {
		t.Fatalf("send depth 10: %d, want 107", code)
	}
	pb := ht.Start(t, ht.Options{Encoding: protocol.Protobuf, Hub: hub.Config{MaxDataDepth: 8}})
	p, _ := pb.Connect(t, ht.Token(t, "u", nil))
	if r := p.Call(map[string]any{"type": "publish", "channel": "chat:d", "data": json.RawMessage(nested(20))}); r.ErrorCode() != 0 {
		t.Fatalf("protobuf data inspected: %v", r)
	}
	stillServes(t, s)
}

// TestHugeNumbersPassThrough: data is opaque; numbers no float or int can
// hold reach subscribers byte for byte.
func TestHugeNumbersPassThrough(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	sub := ht.DialRaw(t, s.Addr(), "/ws", nil)
	sub.WriteText([]byte(`{"id":1,"type":"connect","token":"` + ht.Token(t, "s", nil) + `"}` + "\n" + `{"id":2,"type":"subscribe","channel":"chat:n"}`))
	data := `{"big":123456789012345678901234567890,"tiny":1e-400,"huge":-9.99e999}`
	waitText := func(want string) string {
		for {
			f, err := sub.ReadFrame(5 * time.Second)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if strings.Contains(string(f.Payload), want) {
				return string(f.Payload)
			}
		}
	}
	waitText(`"id":2`)
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	c.Send(`{"id":1,"type":"publish","channel":"chat:n","data":` + data + `}`)
	if r := c.Wait(func(m ht.Msg) bool { return m.ID() == 1 }, "publish reply"); r.ErrorCode() != 0 {
		t.Fatalf("publish: %v", r)
	}
	if got := waitText(`"type":"message"`); !strings.Contains(got, `"data":`+data) {
		t.Fatalf("message %s does not carry %s unchanged", got, data)
	}
}

// TestHistoryLimitBounds: a limit past the history size is clamped, a
// negative one is 107, and one no integer holds is a malformed command.
func TestHistoryLimitBounds(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	for i := 0; i < 3; i++ {
		c.Call(map[string]any{"type": "publish", "channel": "chat:h", "data": i})
	}
	r := c.Call(map[string]any{"type": "history", "channel": "chat:h", "limit": 1 << 40})
	if pubs, _ := r.Result()["publications"].([]any); len(pubs) != 3 {
		t.Fatalf("huge limit: %v", r)
	}
	if r := c.Call(map[string]any{"type": "history", "channel": "chat:h", "limit": -1}); r.ErrorCode() != 107 {
		t.Fatalf("negative limit: %v, want 107", r)
	}
	c.Send(`{"id":50,"type":"history","channel":"chat:h","limit":1e30}`)
	c.ExpectClose(4500)
	stillServes(t, s)
}

// TestAPIAllowedNets: with an allowlist, the API answers only peers in it
// (403 for others, even with a valid key).
func TestAPIAllowedNets(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{APIAllowedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}})
	call := func(from string) int {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/info", nil)
		req.Header.Set("Authorization", "apikey "+ht.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call("127.0.0.1"); code != http.StatusForbidden {
		t.Fatalf("from outside the allowlist: %d, want 403", code)
	}
	if code := call("127.0.0.2"); code != http.StatusOK {
		t.Fatalf("from inside the allowlist: %d, want 200", code)
	}
	stillServes(t, s)
}
