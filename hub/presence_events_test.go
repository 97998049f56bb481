package hub_test

import (
	"testing"

	"github.com/heraldhq/herald/hub"
)

// TestPresenceJoinLeave: a subscriber hears a join push when another user
// subscribes (its own too) and a leave push when they unsubscribe; presence lists every
// subscriber's connection with its user while they are subscribed and
// forgets it after.
func TestPresenceJoinLeave(t *testing.T) {
	h := tokenHub(t, hub.Config{JoinLeaveRate: -1}, map[string]hub.Namespace{
		"chat": {Presence: true, JoinLeave: true, AllowPresence: hub.AccessSubscribers},
	})
	alice := connect(t, h, token(t, "alice", nil))
	bob := connect(t, h, token(t, "bob", nil))
	if r := alice.call(subscribe("chat:room")); errorCode(r) != 0 {
		t.Fatalf("alice subscribes: %v", r)
	}
	r := bob.call(subscribe("chat:room"))
	if errorCode(r) != 0 {
		t.Fatalf("bob subscribes: %v", r)
	}
	join := alice.push("join", "chat:room", "bob")
	info, _ := join["info"].(map[string]any)
	bobID, _ := info["client"].(string)
	if bobID == "" {
		t.Fatalf("join push %v, want bob's client", join)
	}

	presence := func() map[string]any {
		t.Helper()
		r := alice.call(map[string]any{"type": "presence", "channel": "chat:room"})
		res, _ := r["result"].(map[string]any)
		clients, _ := res["clients"].(map[string]any)
		if errorCode(r) != 0 || clients == nil {
			t.Fatalf("presence: %v", r)
		}
		return clients
	}
	clients := presence()
	entry, _ := clients[bobID].(map[string]any)
	if len(clients) != 2 || entry["user"] != "bob" {
		t.Fatalf("presence %v, want alice's and bob's connections, bob's as %v", clients, bobID)
	}

	if r := bob.call(map[string]any{"type": "unsubscribe", "channel": "chat:room"}); errorCode(r) != 0 {
		t.Fatalf("bob unsubscribes: %v", r)
	}
	leave := alice.push("leave", "chat:room", "bob")
	if info, _ := leave["info"].(map[string]any); info["client"] != bobID {
		t.Fatalf("leave push %v, want bob's connection %v", leave, bobID)
	}
	if clients := presence(); len(clients) != 1 || clients[bobID] != nil {
		t.Fatalf("presence after bob left: %v, want alice's connection only", clients)
	}
}
