package client_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// events records what a client hands the application, in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

func (e *events) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// TestConnectedComesBeforeRecovered: after a reconnect, the application
// sees the connected state before the publications, direct messages and
// recovery losses that connection recovered, as it sees a live
// connection's.
func TestConnectedComesBeforeRecovered(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	p := newProxy(t, s.Addr())
	ev := &events{}
	c, err := client.Dial(ctx(t), p.URL(), client.Options{
		Token: ht.Token(t, "u", nil), Backoff: fastBackoff,
		OnState:  func(sc client.StateChange) { ev.add("state %s", sc.State) },
		OnDirect: func(d client.Direct) { ev.add("direct %d", d.Offset) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, ch := range []string{"chat:kept", "chat:lost"} {
		if _, err := c.Subscribe(ctx(t), ch, client.SubscribeOptions{
			OnMessage:      func(m client.Message) { ev.add("message %s %d", m.Channel, m.Offset) },
			OnRecoveryLost: func(r client.RecoveryLost) { ev.add("lost %s", r.Channel) },
		}); err != nil {
			t.Fatal(err)
		}
		s.MustAPI("publish", map[string]any{"channel": ch, "data": 1})
	}
	s.MustAPI("send", map[string]any{"user": "u", "data": 1})
	ht.Eventually(t, 5*time.Second, func() bool { return len(ev.snapshot()) >= 5 }, "the live events")

	p.Down()
	ht.Eventually(t, 5*time.Second, func() bool { return slices.Contains(ev.snapshot(), "state disconnected") }, "the client to notice")
	s.MustAPI("publish", map[string]any{"channel": "chat:kept", "data": 2})
	s.MustAPI("publish", map[string]any{"channel": "chat:kept", "data": 3})
	s.MustAPI("send", map[string]any{"user": "u", "data": 2})
	s.MustAPI("history_remove", map[string]any{"channel": "chat:lost"})
	p.Up()
	recovered := []string{"message chat:kept 2", "message chat:kept 3", "direct 2", "lost chat:lost"}
	ht.Eventually(t, 10*time.Second, func() bool {
		log := ev.snapshot()
		for _, want := range recovered {
			if !slices.Contains(log, want) {
				return false
			}
		}
		return true
	}, "the recovered events (have %v)", ev.snapshot())

	log := ev.snapshot()
	connected := -1
	for i, e := range log {
		if e == "state connected" {
			connected = i
		}
	}
	for _, want := range recovered {
		if i := slices.Index(log, want); i < connected {
			t.Fatalf("%q came before the reconnect's connected state:\n%s", want, strings.Join(log, "\n"))
		}
	}
	if log[connected-1] != "state connecting" {
		t.Fatalf("the connected state does not follow connecting:\n%s", strings.Join(log, "\n"))
	}
}
