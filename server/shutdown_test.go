package server_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// TestShutdownDeliversQueued checks that what was queued for a client before
// shutdown reaches it before the 1001 close.
func TestShutdownDeliversQueued(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:q"})
		const n = 500
		for i := 0; i < n; i++ {
			if _, err := s.Hub.Publish(context.Background(), "chat:q", []byte(`{"n":1}`), ""); err != nil {
				t.Fatal(err)
			}
		}
		s.Stop()
		msgs := c.Messages("chat:q", n)
		for i, m := range msgs {
			if num(m["offset"]) != i+1 {
				t.Fatalf("message %d has offset %v", i, m["offset"])
			}
		}
		d := c.Push("disconnect")
		if num(d["code"]) != 1001 || d["reconnect"] != true {
			t.Fatalf("disconnect push %v", d)
		}
		if code := c.WaitClosed(5 * time.Second); code != 1001 {
			t.Fatalf("close code %d", code)
		}
	})
}

func TestReadyzWhileDraining(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	// A client that never answers the close frame keeps the drain going.
	raw := ht.DialRaw(t, s.Addr(), "/ws", nil)
	raw.WriteText([]byte(`{"id":1,"type":"connect","token":"` + ht.Token(t, "u", nil) + `"}`))
	ht.Eventually(t, 2*time.Second, func() bool { return s.Hub.Info().Users == 1 }, "client connected")
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	ht.Eventually(t, 2*time.Second, func() bool {
		rec := httptest.NewRecorder()
		s.Server.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code == http.StatusServiceUnavailable
	}, "readyz 503 while draining")
	rec := httptest.NewRecorder()
	s.Server.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("healthz while draining: %d", rec.Code)
	}
	raw.Conn.Close()
	<-done
}

// TestRestartRecovery restarts the server on the same broker: a client that
// reconnects with since gets everything published while it was away.
func TestRestartRecovery(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:restart"})
		epoch := r.Result()["epoch"]
		for i := 0; i < 3; i++ {
			s.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		last := c.Messages("chat:restart", 3)[2]["offset"]

		s2 := s.Restart(ht.Options{Encoding: enc})
		c.ExpectClose(1001)
		for i := 3; i < 7; i++ {
			s2.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		c2 := s2.Dial(t)
		res := c2.Call(map[string]any{"type": "connect", "token": ht.Token(t, "u", nil),
			"subs": map[string]any{"chat:restart": map[string]any{"since": map[string]any{"offset": last, "epoch": epoch}}}}).Result()
		sub := res["subs"].(map[string]any)["chat:restart"].(map[string]any)
		pubs := sub["publications"].([]any)
		if sub["recovered"] != true || len(pubs) != 4 || num(pubs[0].(map[string]any)["data"]) != 3 {
			t.Fatalf("recovery after restart: %v", sub)
		}
	})
}

// TestShutdownClosesSilentConnections: a connection that has sent nothing (an
// HTTP client's spare keep-alive connection) does not hold up a drain, which
// net/http alone would let it do for 5 s.
func TestShutdownClosesSilentConnections(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	silent, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// Also one that has finished a request and sits idle.
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a silent connection open: %v", err)
	}
	silent.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("silent connection still open after shutdown")
	}
	s.Stop()
}
