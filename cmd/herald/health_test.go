package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealthCommand runs the real main against servers that answer 200, 503
// and nothing, since the container's HEALTHCHECK trusts its exit status.
func TestHealthCommand(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
		w.Write([]byte("draining\n"))
	}))
	defer srv.Close()

	if out, code := run(t, nil, "health", "--url", srv.URL+"/healthz"); code != 0 || out != "ok\n" {
		t.Fatalf("200: exit %d %q", code, out)
	}
	// Without --url the port comes from HERALD_ADDRESS, reached on loopback.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if out, code := run(t, []string{"HERALD_ADDRESS=:" + port}, "health"); code != 0 {
		t.Fatalf("HERALD_ADDRESS=:%s: exit %d %q", port, code, out)
	}

	status.Store(http.StatusServiceUnavailable)
	if out, code := run(t, nil, "health", "--url", srv.URL+"/healthz"); code != 1 || !strings.Contains(out, "503") {
		t.Fatalf("503: exit %d %q", code, out)
	}
	srv.Close()
	if out, code := run(t, nil, "health", "--url", srv.URL+"/healthz"); code != 1 {
		t.Fatalf("nothing listening: exit %d %q", code, out)
	}
	if out, code := run(t, []string{"HERALD_ADDRESS=8000"}, "health"); code != 1 || !strings.Contains(out, "HERALD_ADDRESS") {
		t.Fatalf("bad HERALD_ADDRESS: exit %d %q", code, out)
	}
	if out, code := run(t, nil, "health", "--url", "::not a url"); code != 1 {
		t.Fatalf("bad URL: exit %d %q", code, out)
	}
}

func TestLocalHealthURL(t *testing.T) {
	for addr, want := range map[string]string{
		"":               "http://127.0.0.1:8000/healthz",
		":9000":          "http://127.0.0.1:9000/healthz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/healthz",
		"[::]:9000":      "http://[::1]:9000/healthz",
		"10.0.0.5:9000":  "http://10.0.0.5:9000/healthz",
		"localhost:8000": "http://localhost:8000/healthz",
	} {
		if got, err := localHealthURL(addr); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", addr, got, err, want)
		}
	}
}
