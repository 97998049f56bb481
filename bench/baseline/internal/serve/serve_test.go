package serve

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// plainHub answers every request with "ok" and records Close: enough to
// check the shell around a hub, which the baselines' own tests cover.
type plainHub struct{ closed chan struct{} }

func (h *plainHub) ServeHTTP(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }
func (h *plainHub) Close()                                           { close(h.closed) }
func (h *plainHub) Echo() http.Handler                               { return h }

// TestRunServesAndShutsDown: Run prints its PID and real addresses, serves
// the hub at Path and the profiles at -pprof, and on cancellation returns
// nil after closing the hub.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hub := &plainHub{closed: make(chan struct{})}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "test", ":0", []string{"-addr", "127.0.0.1:0", "--pprof", "127.0.0.1:0"}, pw, func() Hub { return hub })
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var out []string
	for range 2 {
		if !lines.Scan() {
			t.Fatalf("output ended early: %q", out)
		}
		out = append(out, lines.Text())
	}
	go io.Copy(io.Discard, pr)
	pid := "pid " + strconv.Itoa(os.Getpid()) + ","
	if !strings.Contains(out[0], pid) {
		t.Errorf("first line %q does not name the PID", out[0])
	}
	wsURL := strings.Replace(lastField(out[0]), "ws://", "http://", 1)
	if !strings.HasSuffix(wsURL, Path) {
		t.Fatalf("first line %q does not end in the WebSocket URL", out[0])
	}
	if body := get(t, wsURL); body != "ok" {
		t.Errorf("hub answered %q", body)
	}
	if body := get(t, lastField(out[1])+"cmdline"); !strings.Contains(body, "test") {
		t.Errorf("pprof cmdline answered %q", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-hub.closed:
	default:
		t.Fatal("Run returned without closing the hub")
	}
}

// TestRunUsage: bad flags and stray arguments are usage errors, reported
// before anything listens; -h is flag.ErrHelp.
func TestRunUsage(t *testing.T) {
	newHub := func() Hub { t.Fatal("hub created on a usage error"); return nil }
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-addr"}} {
		err := Run(context.Background(), "test", ":0", args, io.Discard, newHub)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
	if err := Run(context.Background(), "test", ":0", []string{"-h"}, io.Discard, newHub); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
	if err := Run(context.Background(), "test", "256.0.0.1:0", nil, io.Discard, newHub); err == nil || errors.As(err, new(usageError)) {
		t.Errorf("bad address: got %v, want a listen error", err)
	}
}

func lastField(s string) string {
	f := strings.Fields(s)
	return f[len(f)-1]
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
