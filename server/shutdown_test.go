package server_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestReadyzWhileDraining: while the server drains, /readyz answers 503
// (so a balancer stops sending) and /healthz still 200.
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
