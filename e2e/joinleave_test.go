package e2e_test

import (
	"testing"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestJoinLeaveToggling: connections toggling their subscription to a
// channel cost its subscribers at most the channel's join/leave burst of
// pushes at once, however many toggles; presence stays exact.
func TestJoinLeaveToggling(t *testing.T) {
	const burst = 5
	// A rate this low refills nothing while the test runs.
	s := ht.Start(t, ht.Options{Hub: hub.Config{JoinLeaveRate: 1e-6, JoinLeaveBurst: burst}})
	const ch = "chat:crowd"
	observer, _ := s.Connect(t, ht.Token(t, "observer", nil))
	if r := observer.Call(map[string]any{"type": "subscribe", "channel": ch}); r.ErrorCode() != 0 {
		t.Fatalf("subscribe: %v", r)
	}
	for i := range 3 {
		toggler, _ := s.Connect(t, ht.Token(t, "toggler", nil))
		for range 5 {
			for _, typ := range []string{"subscribe", "unsubscribe"} {
				if r := toggler.Call(map[string]any{"type": typ, "channel": ch}); r.ErrorCode() != 0 {
					t.Fatalf("toggler %d %s: %v", i, typ, r)
				}
			}
		}
	}
	// Pushes reach the observer in the order they were queued: once this
	// publication arrives, every join and leave sent at once has too.
	observer.Call(map[string]any{"type": "publish", "channel": ch, "data": "sentinel"})
	observer.Messages(ch, 1)
	n := 0
	for _, m := range observer.All() {
		if m.Type() == "join" || m.Type() == "leave" {
			n++
		}
	}
	// The observer's own join is one of them.
	if n != burst {
		t.Errorf("%d join/leave pushes, want %d", n, burst)
	}
	r := observer.Call(map[string]any{"type": "presence", "channel": ch})
	if clients, _ := r.Result()["clients"].(map[string]any); len(clients) != 1 {
		t.Errorf("presence %v, want the observer alone", r)
	}
}
