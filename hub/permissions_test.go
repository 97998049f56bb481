package hub_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// TestNamespacePermissions: each namespace's modes decide who may
// subscribe, publish and read history, and a refusal is error 103 on the
// command alone: the connection goes on.
func TestNamespacePermissions(t *testing.T) {
	history := func(n hub.Namespace) hub.Namespace {
		n.HistorySize, n.HistoryTTL = 10, time.Hour
		return n
	}
	h := tokenHub(t, hub.Config{Anonymous: true}, map[string]hub.Namespace{
		"open":   history(hub.Namespace{AllowPublish: hub.AccessAny, AllowHistory: hub.AccessAny}),
		"subs":   history(hub.Namespace{}), // the defaults: subscribers only
		"users":  {AllowSubscribe: hub.SubscribeAuthenticated, AllowPublish: hub.AccessAuthenticated},
		"news":   {AllowPublish: hub.AccessNone},
		"secret": {AllowSubscribe: hub.SubscribeToken},
	})
	alice := connect(t, h, token(t, "alice", nil))
	anon := connect(t, h, "")

	for _, tc := range []struct {
		name string
		who  *peer
		cmd  map[string]any
		want protocol.ErrorCode
	}{
		{"anyone publishes to open", anon, publish("open:x"), 0},
		{"anyone reads open's history", anon, map[string]any{"type": "history", "channel": "open:x"}, 0},
		{"nobody publishes to news", alice, publish("news:x"), protocol.CodePermissionDenied},
		{"a non-subscriber does not publish to subs", alice, publish("subs:x"), protocol.CodePermissionDenied},
		{"a non-subscriber does not read subs' history", alice, map[string]any{"type": "history", "channel": "subs:x"}, protocol.CodePermissionDenied},
		{"the anonymous do not subscribe to users", anon, subscribe("users:x"), protocol.CodePermissionDenied},
		{"the anonymous do not publish to users", anon, publish("users:x"), protocol.CodePermissionDenied},
		{"a user publishes to users unsubscribed", alice, publish("users:x"), 0},
		{"a user subscribes to users", alice, subscribe("users:x"), 0},
		{"no subscribing to secret without a token", alice, subscribe("secret:x"), protocol.CodePermissionDenied},
		{"another user's channel token does not do", alice, map[string]any{"type": "subscribe", "channel": "secret:x",
			"token": token(t, "bob", map[string]any{"channel": "secret:x"})}, protocol.CodePermissionDenied},
		{"a channel token for secret:x opens it", alice, map[string]any{"type": "subscribe", "channel": "secret:x",
			"token": token(t, "alice", map[string]any{"channel": "secret:x"})}, 0},
	} {
		if got := errorCode(tc.who.call(tc.cmd)); got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}

	// Subscribed, the same user may publish to subs and read its history.
	if r := alice.call(subscribe("subs:x")); errorCode(r) != 0 {
		t.Fatalf("subscribe to subs: %v", r)
	}
	if r := alice.call(publish("subs:x")); errorCode(r) != 0 {
		t.Fatalf("a subscriber's publish to subs: %v", r)
	}
	if r := alice.call(map[string]any{"type": "history", "channel": "subs:x"}); errorCode(r) != 0 {
		t.Fatalf("a subscriber's history of subs: %v", r)
	}
	for _, p := range []*peer{alice, anon} {
		if code := p.closedWith(); code != 0 {
			t.Fatalf("a refusal closed the connection with %d", code)
		}
	}
}

func publish(channel string) map[string]any {
	return map[string]any{"type": "publish", "channel": channel, "data": 1}
}

func subscribe(channel string) map[string]any {
	return map[string]any{"type": "subscribe", "channel": channel}
}
