package e2e_test

import (
	"context"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// A graceful shutdown as clients see it. How the server drains its own
// connections is tested in server.

// TestShutdownDeliversQueued checks that what was queued for a client before
// shutdown reaches it before the 1001 close.
func TestShutdownDeliversQueued(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:q"})
		const n = 500
		for i := 0; i < n; i++ {
			if _, err := s.Hub.Publish(context.Background(), "chat:q", []byte(`{"n":1}`), ""); err != nil {
				t.Fatal(err)
			}
		}
		s.Stop()
		msgs := c.Messages("chat:q", n)
		for i, m := range msgs {
			if ht.Num(m["offset"]) != i+1 {
				t.Fatalf("message %d has offset %v", i, m["offset"])
			}
		}
		d := c.Push("disconnect")
		if ht.Num(d["code"]) != 1001 || d["reconnect"] != true {
			t.Fatalf("disconnect push %v", d)
		}
		if code := c.WaitClosed(5 * time.Second); code != 1001 {
			t.Fatalf("close code %d", code)
		}
	})
}

// TestRestartRecovery restarts the server on the same broker: a client that
// reconnects with since gets everything published while it was away.
func TestRestartRecovery(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:restart"})
		epoch := r.Result()["epoch"]
		for i := 0; i < 3; i++ {
			s.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		last := c.Messages("chat:restart", 3)[2]["offset"]

		s2 := s.Restart(ht.Options{Encoding: enc})
		c.ExpectClose(1001)
		for i := 3; i < 7; i++ {
			s2.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		c2 := s2.Dial(t)
		res := c2.Call(map[string]any{"type": "connect", "token": ht.Token(t, "u", nil),
			"subs": map[string]any{"chat:restart": map[string]any{"since": map[string]any{"offset": last, "epoch": epoch}}}}).Result()
		sub := res["subs"].(map[string]any)["chat:restart"].(map[string]any)
		pubs := sub["publications"].([]any)
		if sub["recovered"] != true || len(pubs) != 4 || ht.Num(pubs[0].(map[string]any)["data"]) != 3 {
			t.Fatalf("recovery after restart: %v", sub)
		}
	})
}
