package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
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
