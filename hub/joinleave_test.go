package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// pushLog is a Transport that keeps every message it is sent.
type pushLog struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (r *pushLog) Writes() hub.Writes { return hub.Writes{Frame: r.WriteFrame} }

func (r *pushLog) WriteFrame(parts [][]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, line := range bytes.Split(bytes.Join(parts, nil), []byte{'\n'}) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err == nil {
			r.msgs = append(r.msgs, m)
		}
	}
	return nil
}

func (r *pushLog) Close(protocol.CloseCode, string) {}

// wait polls until cond holds for the messages so far.
func (r *pushLog) wait(t *testing.T, what string, cond func([]map[string]any) bool) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	wait.For(t, 5*time.Second, func() error {
		r.mu.Lock()
		msgs = append([]map[string]any(nil), r.msgs...)
		r.mu.Unlock()
		if cond(msgs) {
			return nil
		}
		return fmt.Errorf("no %s in %v", what, msgs)
	})
	return msgs
}

// joinLeaveHub starts a hub with join/leave events on and one observer
// subscribed to "room" (its own join is the channel's first event).
func joinLeaveHub(t *testing.T, rate float64, burst int) (*hub.Hub, *pushLog) {
	t.Helper()
	b := memory.New(memory.Options{})
	h := hub.New(hub.Config{
		Anonymous:      true,
		Namespaces:     map[string]hub.Namespace{"": {Presence: true, JoinLeave: true, AllowPublish: hub.AccessAny}},
		JoinLeaveRate:  rate,
		JoinLeaveBurst: burst,
	}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Shutdown(context.Background())
		b.Close()
	})
	rec := &pushLog{}
	c := h.NewClient(rec, protocol.JSON, hub.Peer{Remote: "test"})
	t.Cleanup(c.Closed)
	c.HandleFrame([]byte(`{"id":1,"type":"connect"}` + "\n" + `{"id":2,"type":"subscribe","channel":"room"}`))
	rec.wait(t, "subscribe reply", func(msgs []map[string]any) bool {
		for _, m := range msgs {
			if m["id"] == float64(2) {
				return true
			}
		}
		return false
	})
	return h, rec
}

func presencePushes(msgs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == protocol.PushJoin || m["type"] == protocol.PushLeave {
			out = append(out, m)
		}
	}
	return out
}

// TestJoinLeaveBurst: a burst of events larger than the bucket yields
// exactly the bucket's worth of pushes at once; the rest is held.
func TestJoinLeaveBurst(t *testing.T) {
	const burst = 5
	// A rate this low refills nothing while the test runs.
	h, rec := joinLeaveHub(t, 1e-6, burst)
	for i := range 3 * burst {
		info := &broker.ClientInfo{User: "u", Client: "toggler"}
		if i%2 == 0 {
			h.HandleJoin("room", info)
		} else {
			h.HandleLeave("room", info)
		}
	}
	// Pushes reach a client in the order they were queued: once this
	// publication is out, every push sent at once is too.
	if _, err := h.Publish(context.Background(), "room", []byte(`"sentinel"`), ""); err != nil {
		t.Fatal(err)
	}
	msgs := rec.wait(t, "the sentinel publication", func(msgs []map[string]any) bool {
		return len(msgs) > 0 && msgs[len(msgs)-1]["type"] == protocol.PushMessage
	})
	// The observer's own join took one token.
	if got := presencePushes(msgs); len(got) != burst {
		t.Fatalf("%d join/leave pushes, want %d: %v", len(got), burst, got)
	}
}

// TestJoinLeaveCoalesced: events held past the rate are not lost: each
// client's latest one goes out as the bucket refills, so a subscriber's view
// built from join and leave ends up right.
func TestJoinLeaveCoalesced(t *testing.T) {
	h, rec := joinLeaveHub(t, 100, 1)
	join := func(client, user string) { h.HandleJoin("room", &broker.ClientInfo{User: user, Client: client}) }
	leave := func(client string) { h.HandleLeave("room", &broker.ClientInfo{User: "u", Client: client}) }
	join("a", "a")
	join("b", "b-first")
	leave("a")
	leave("b")
	for range 10 {
		join("a", "a")
		leave("a")
	}
	join("b", "b-final") // the only event naming b-final: the last one sent
	// The view a client builds from the pushes: client id → user.
	view := func(msgs []map[string]any) map[string]any {
		v := map[string]any{}
		for _, m := range presencePushes(msgs) {
			info := m["info"].(map[string]any)
			if m["type"] == protocol.PushJoin {
				v[info["client"].(string)] = info["user"]
			} else {
				delete(v, info["client"].(string))
			}
		}
		return v
	}
	msgs := rec.wait(t, "the final view", func(msgs []map[string]any) bool {
		v := view(msgs)
		_, a := v["a"]
		return v["b"] == "b-final" && !a
	})
	if n := len(presencePushes(msgs)); n > 26 {
		t.Errorf("%d pushes for 25 events", n)
	}
}

// TestJoinLeaveUnlimited: a negative rate sends every event at once.
func TestJoinLeaveUnlimited(t *testing.T) {
	h, rec := joinLeaveHub(t, -1, 0)
	for range 100 {
		h.HandleJoin("room", &broker.ClientInfo{Client: "x"})
	}
	rec.wait(t, "every push", func(msgs []map[string]any) bool { return len(presencePushes(msgs)) == 101 })
}
