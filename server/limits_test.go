package server_test

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

func TestMessageTooBig(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Server: server.Config{MaxMessageSize: 1024}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Send(map[string]any{"type": "publish", "channel": "chat:x", "data": strings.Repeat("a", 2000)})
		if code := c.WaitClosed(5 * time.Second); code != websocket.StatusMessageTooBig {
			t.Fatalf("close code %d, want 1009", code)
		}
		s.StillServes(t)
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
	s.StillServes(t)
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
	s.StillServes(t)
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
			s.StillServes(t)
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
	s.StillServes(t)
}

// TestConnectRatePerIPOff: a negative rate turns the limit off.
func TestConnectRatePerIPOff(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{ConnectRatePerIP: -1, ConnectBurstPerIP: 1}})
	for i := 0; i < 5; i++ {
		c := ht.Dial(t, s.WSURL, nil)
		c.Conn.CloseNow()
	}
	s.StillServes(t)
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
	s.StillServes(t)
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
	s.StillServes(t)
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
	s.StillServes(t)
}
