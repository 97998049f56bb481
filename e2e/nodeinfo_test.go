package e2e_test

import (
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestNodeInfoCounters checks the cumulative counters the admin UI turns
// into rates: one publication to two subscribers counts one published and
// two delivered; a direct message to a connected user counts one delivered.
func TestNodeInfoCounters(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	a, _ := s.Connect(t, ht.Token(t, "alice", nil))
	b, _ := s.Connect(t, ht.Token(t, "bob", nil))
	for _, c := range []*ht.Client{a, b} {
		c.Call(map[string]any{"type": "subscribe", "channel": "plain"})
	}
	s.MustAPI("publish", map[string]any{"channel": "plain", "data": map[string]any{"n": 1}})
	a.Messages("plain", 1)
	b.Messages("plain", 1)
	info := s.Hub.Info()
	if info.Published != 1 || info.Delivered != 2 {
		t.Fatalf("published %d delivered %d, want 1 and 2", info.Published, info.Delivered)
	}
	s.MustAPI("send", map[string]any{"user": "bob", "data": map[string]any{"n": 2}})
	b.Push("direct")
	ht.Eventually(t, 2*time.Second, func() bool { return s.Hub.Info().Delivered == 3 }, "direct counted")
	if got := s.Hub.Nodes()[0]; got.Published != 1 || got.Delivered != 3 {
		t.Fatalf("Nodes()[0] = %+v", got)
	}
}
