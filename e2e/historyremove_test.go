package e2e_test

import (
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// checkHistoryRemove: history_remove through api closes sub, a live
// subscriber of chat:removed that has had offset 1, with 4000 at once, with
// no publication after it; resubscribing from its position on s, it learns
// recovered: false and the new epoch. A subscriber of a channel without
// history stays.
func checkHistoryRemove(t *testing.T, api, s *ht.Server, sub, plain *ht.Client) {
	t.Helper()
	r := sub.Call(map[string]any{"type": "subscribe", "channel": "chat:removed"})
	epoch := r.Result()["epoch"]
	api.MustAPI("publish", map[string]any{"channel": "chat:removed", "data": 1})
	sub.Messages("chat:removed", 1)

	api.MustAPI("history_remove", map[string]any{"channel": "plain"})
	api.MustAPI("history_remove", map[string]any{"channel": "chat:removed"})
	if d := sub.Push("disconnect"); ht.Num(d["code"]) != 4000 || d["reason"] != "stream continuity lost" || d["reconnect"] != true {
		t.Fatalf("disconnect push %v, want 4000 stream continuity lost", d)
	}
	if code := sub.WaitClosed(5 * time.Second); code != 4000 {
		t.Fatalf("closed with %d, want 4000", code)
	}

	again, _ := s.Connect(t, ht.Token(t, "ana", nil))
	res := again.Call(map[string]any{"type": "subscribe", "channel": "chat:removed",
		"since": map[string]any{"offset": 1, "epoch": epoch}}).Result()
	if res["recovered"] != false || res["epoch"] == epoch {
		t.Fatalf("resubscribe after history_remove: %v, want recovered false and a new epoch", res)
	}
	// The subscriber of the channel without history was left alone.
	api.MustAPI("publish", map[string]any{"channel": "plain", "data": 2})
	plain.Messages("plain", 1)
}

// TestHistoryRemoveClosesSubscribers: on one node, history_remove closes
// the channel's live subscribers at once.
func TestHistoryRemoveClosesSubscribers(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	sub, _ := s.Connect(t, ht.Token(t, "ana", nil))
	plain, _ := s.Connect(t, ht.Token(t, "ben", nil))
	plain.Call(map[string]any{"type": "subscribe", "channel": "plain"})
	checkHistoryRemove(t, s, s, sub, plain)
}

// TestClusterHistoryRemove: history_remove called on one node closes the
// channel's subscribers on another, over Redis and NATS.
func TestClusterHistoryRemove(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		nodes := startNodes(t, e, 2)
		sub, _ := nodes[1].Connect(t, ht.Token(t, "ana", nil))
		plain, _ := nodes[1].Connect(t, ht.Token(t, "ben", nil))
		plain.Call(map[string]any{"type": "subscribe", "channel": "plain"})
		checkHistoryRemove(t, nodes[0], nodes[1], sub, plain)
	})
}
