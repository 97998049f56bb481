package e2e_test

import (
	"testing"

	"github.com/heraldhq/herald/broker/memory"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// TestDeadBroker: when the broker stops answering, commands that need it
// get the temporary internal error, /readyz reports 503, and connections
// stay open.
func TestDeadBroker(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		b := memory.New(memory.Options{})
		s := ht.Start(t, ht.Options{Encoding: enc, Broker: b})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:x"})
		b.Close()

		r := c.Call(map[string]any{"type": "publish", "channel": "chat:x", "data": 1})
		e, _ := r["error"].(map[string]any)
		if r.ErrorCode() != 100 || e["temporary"] != true {
			t.Fatalf("publish on a dead broker: %v", r)
		}
		if r := c.Call(map[string]any{"type": "history", "channel": "chat:x"}); r.ErrorCode() != 100 {
			t.Fatalf("history on a dead broker: %v", r)
		}
		if status, out := s.API("publish", map[string]any{"channel": "chat:x", "data": 1}); status != 200 || ht.Num(out["error"].(map[string]any)["code"]) != 100 {
			t.Fatalf("API publish on a dead broker: %d %v", status, out)
		}
		if code, _ := s.HTTPGet("/readyz"); code != 503 {
			t.Fatalf("readyz %d, want 503", code)
		}
		if code, _ := s.HTTPGet("/healthz"); code != 200 {
			t.Fatalf("healthz %d, want 200", code)
		}
		if r := c.Call(map[string]any{"type": "unsubscribe", "channel": "chat:x"}); r.ErrorCode() != 0 {
			t.Fatalf("connection unusable: %v", r)
		}
	})
}
