package redis_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
)

// logBuffer collects a logger's lines for a test to read while the broker
// writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the lines containing s.
func (l *logBuffer) lines(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// waitFor polls cond every 10 ms for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSweepLogsOncePerOutage: while Redis is away the presence sweep of
// every channel fails every round; that is one warning when the outage
// starts and one line when it ends, not a line per channel per round.
func TestSweepLogsOncePerOutage(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	var logs logBuffer
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}, Logger: logs.logger(), HealthCheckInterval: 200 * time.Millisecond})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := b.Subscribe(ctx, "sweep-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	p.Stop()
	waitFor(t, "the sweep to fail", func() bool { return len(logs.lines("presence sweep")) > 0 })
	// Some twenty rounds (the sweep runs every 50 ms) of twenty channels.
	time.Sleep(time.Second)
	p.Start()
	waitFor(t, "the sweep to recover", func() bool { return len(logs.lines("presence sweep recovered")) > 0 })
	lines := logs.lines("presence sweep")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "channels=20") {
		t.Fatalf("sweep log lines:\n%s\nwant one warning for the outage and one line for its end", strings.Join(lines, "\n"))
	}
}
