package stream_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/server"
)

// Streams count against the per-address connection cap, as WebSockets
// do, and free their place when they end.
func TestStreamsPerIP(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{MaxConnectionsPerIP: 2}})
	tok := ht.Token(t, "alice", nil)
	connect := map[string]any{"type": "connect", "token": tok}
	a := openStream(t, s, connect, streamOptions{})
	openStream(t, s, connect, streamOptions{kind: "ndjson"})
	// Streams do not count as plain HTTP connections.
	if total, _ := s.Server.HTTPConnections(); total != 0 {
		t.Fatalf("%d plain HTTP connections", total)
	}
	openStream(t, s, connect, streamOptions{wantErr: http.StatusServiceUnavailable})
	ws := ht.Dial(t, s.WSURL, nil)
	ws.ExpectClose(4005)
	a.Close()
	wait.For(t, 5*time.Second, func() error {
		if n := s.Hub.Info().Clients; n != 1 {
			return fmt.Errorf("%d clients", n)
		}
		return nil
	})
	openStream(t, s, connect, streamOptions{})
}

// A client that stops reading is a slow consumer: 4001, its connection
// gone.
func TestStreamSlowReader(t *testing.T) {
	s := ht.Start(t, ht.Options{
		Hub:    hub.Config{WriteQueueBytes: 64 << 10},
		Server: server.Config{WriteTimeout: 300 * time.Millisecond},
	})
	u, _ := url.Parse(s.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	tok := ht.Token(t, "alice", map[string]any{"subs": []string{"news:a"}})
	fmt.Fprintf(conn, "GET /stream?connect=%s HTTP/1.1\r\nHost: x\r\n\r\n", url.QueryEscape(`{"type":"connect","token":"`+tok+`"}`))
	wait.For(t, 5*time.Second, func() error {
		if n := s.Hub.Info().Subs; n != 1 {
			return fmt.Errorf("%d subs", n)
		}
		return nil
	})
	data := strings.Repeat("x", 8<<10)
	wait.For(t, 10*time.Second, func() error {
		if n := s.Hub.Stats().SlowConsumers; n == 1 {
			return nil
		}
		s.MustAPI("publish", map[string]any{"channel": "news:a", "data": data})
		return fmt.Errorf("no slow consumer yet")
	})
	wait.For(t, 5*time.Second, func() error {
		if n := s.Hub.Info().Clients; n != 0 {
			return fmt.Errorf("%d clients", n)
		}
		return nil
	})
}

// A POST /stream whose connect body never arrives is ended at the body
// timeout, and holds no client place after.
func TestStreamConnectNeverArrives(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{RequestBodyTimeout: 200 * time.Millisecond, MaxConnectionsPerIP: 1}})
	u, _ := url.Parse(s.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 512)
	n, _ := conn.Read(b)
	if !strings.HasPrefix(string(b[:n]), "HTTP/1.1 400") {
		t.Fatalf("answer %q", b[:n])
	}
	openStream(t, s, map[string]any{"type": "connect", "token": ht.Token(t, "alice", nil)}, streamOptions{})
}

// A client that goes away mid-stream leaves nothing behind (goleak checks
// the goroutines at the end of the package's tests).
func TestStreamClientGoesAway(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	tok := ht.Token(t, "alice", map[string]any{"subs": []string{"chat:a"}})
	for _, kind := range []string{"sse", "ndjson", "proto"} {
		c := openStream(t, s, map[string]any{"type": "connect", "token": tok}, streamOptions{kind: kind})
		s.MustAPI("publish", map[string]any{"channel": "chat:a", "data": 1})
		c.Messages("chat:a", 1)
		session := c.Session
		c.Close()
		wait.For(t, 5*time.Second, func() error {
			if n := s.Hub.Info().Clients; n != 0 {
				return fmt.Errorf("%d clients", n)
			}
			return nil
		})
		if status, _ := post(t, http.DefaultClient, s.URL, session, []byte(`{"type":"pong"}`), nil); status != http.StatusNotFound {
			t.Fatalf("%s: POST to an ended session: %d", kind, status)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// Draining sends stream clients 1001, then ends their responses.
func TestStreamShutdown(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c := openStream(t, s, map[string]any{"type": "connect", "token": ht.Token(t, "alice", nil)}, streamOptions{})
	s.Stop()
	c.ExpectClose(1001)
}

// Cross-origin: the WebSocket origin policy, and the preflight.
func TestStreamCORS(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{AllowedOrigins: []string{"https://app.example"}}})
	c := openStream(t, s, map[string]any{"type": "connect", "token": ht.Token(t, "alice", nil)},
		streamOptions{header: http.Header{"Origin": {"https://app.example"}}})
	if got := c.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Fatalf("allow origin %q", got)
	}
	openStream(t, s, map[string]any{"type": "connect"}, streamOptions{header: http.Header{"Origin": {"https://evil.example"}}, wantErr: 403})
	req, _ := http.NewRequest(http.MethodOptions, s.URL+"/sse/cmd?session=x", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}
	// A POST with a body other than Protobuf is JSON, whatever it says.
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/sse/cmd?session="+url.QueryEscape(c.Session), strings.NewReader(`{"id":5,"type":"presence_stats","channel":"chat:a"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", "https://app.example")
	resp, err = c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("post %d %v", resp.StatusCode, resp.Header)
	}
	c.Wait(func(m ht.Msg) bool { return m.ID() == 5 }, "presence_stats reply")
}
