package hub

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
)

// TestPresenceRetriesBounded: removals the engine refuses are queued once
// per channel and client, up to the bound; past it they are dropped (the
// entries expire by their TTL) and that is logged once, as is the outage.
func TestPresenceRetriesBounded(t *testing.T) {
	var logs bytes.Buffer
	b := memory.New(memory.Options{})
	b.Close() // every call fails from now on
	h := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, b, nil)
	h.presenceRetries.max = 5
	ctx := context.Background()
	for i := range 20 {
		info := &broker.ClientInfo{User: "u", Client: fmt.Sprintf("c%d", i)}
		h.removePresence(ctx, "chat:x", info, true)
		h.removePresence(ctx, "chat:x", info, true) // the same entry again
	}
	if n := h.pendingRemovals(); n != 5 {
		t.Fatalf("%d removals queued, want the bound, 5", n)
	}
	out := logs.String()
	if n := strings.Count(out, "retry queue full"); n != 1 {
		t.Fatalf("%d lines about the full queue, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "presence removal failing"); n != 1 {
		t.Fatalf("%d lines about failing removals, want 1:\n%s", n, out)
	}
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 2 {
		t.Fatalf("%d log lines for 40 failed removals, want 2:\n%s", n, out)
	}
}
