package hub_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// TestCommandRateLimit: past its burst a connection's commands are refused
// with error 110, each refusal a strike; the strikes in a row that
// RateLimitStrikes allows close the connection with 4004.
func TestCommandRateLimit(t *testing.T) {
	// A rate this low refills nothing while the test runs.
	h := tokenHub(t, hub.Config{Anonymous: true, CommandRate: 0.01, CommandBurst: 3, RateLimitStrikes: 5},
		map[string]hub.Namespace{"": {Presence: true, AllowPresence: hub.AccessAny}})
	p := connect(t, h, "")
	stats := map[string]any{"type": "presence_stats", "channel": "room"}
	var codes []int
	for range 7 {
		codes = append(codes, int(errorCode(p.call(stats))))
	}
	if got, want := fmt.Sprint(codes), "[0 0 0 110 110 110 110]"; got != want {
		t.Fatalf("codes %v, want %s", got, want)
	}
	if code := p.closedWith(); code != 0 {
		t.Fatalf("closed with %d after four strikes, want open", code)
	}
	p.c.HandleFrame([]byte(`{"id":100,"type":"presence_stats","channel":"room"}`))
	wait.For(t, 5*time.Second, func() error {
		if code := p.closedWith(); code != protocol.CloseRateLimited {
			return fmt.Errorf("closed with %d after the fifth strike, want %d", code, protocol.CloseRateLimited)
		}
		return nil
	})
}
