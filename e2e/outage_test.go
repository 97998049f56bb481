package e2e_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/logtest"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/protocol"
)

// privatePersistentRedis runs a Redis of the test's own that keeps its data
// across a graceful restart, as an outage that loses nothing.
func privatePersistentRedis(t testing.TB) *privateEngine {
	p := services.StartRedis(t, "--appendonly", "yes")
	return &privateEngine{
		connect: redisOn(func(testing.TB) string { return p.Addr() }),
		stop:    p.Stop,
		start:   p.Start,
	}
}

// TestPresenceRemovalRetried: a client that leaves while the engine is
// away leaves presence soon after the engine is back, not after
// presence_ttl, and its leave is announced once per channel; the node logs
// the outage's failed removals once, not once per removal.
func TestPresenceRemovalRetried(t *testing.T) {
	waitsOnClock(t)
	for _, e := range []struct {
		name    string
		private func(testing.TB) *privateEngine
	}{
		{"redis", privatePersistentRedis},
		{"nats", privateNATS},
	} {
		t.Run(e.name, func(t *testing.T) {
			waitsOnClock(t)
			testPresenceRemovalRetried(t, e.private(t))
		})
	}
}

func testPresenceRemovalRetried(t *testing.T, eng *privateEngine) {
	var logs logtest.Buffer
	const ttl = 30 * time.Second
	s := ht.Start(t, ht.Options{
		Broker: eng.connect(t, "herald-test-"+randomID()),
		Hub:    hub.Config{BrokerTimeout: 500 * time.Millisecond, PresenceTTL: ttl, Logger: logs.Logger(slog.LevelInfo)},
	})
	a, _ := s.Connect(t, ht.Token(t, "alice", nil))
	b, rb := s.Connect(t, ht.Token(t, "bob", nil))
	bob := rb["client"].(string)
	channels := []string{"chat:retry-1", "chat:retry-2", "chat:retry-3"}
	for _, ch := range channels {
		a.Call(map[string]any{"type": "subscribe", "channel": ch})
		b.Call(map[string]any{"type": "subscribe", "channel": ch})
	}
	presentBob := func(ch string) bool {
		p := s.MustAPI("presence", map[string]any{"channel": ch})["clients"].(map[string]any)
		return p[bob] != nil
	}
	for _, ch := range channels {
		if !presentBob(ch) {
			t.Fatalf("bob not in %s's presence", ch)
		}
	}

	eng.stop()
	ht.Eventually(t, 10*time.Second, func() bool {
		code, _ := s.HTTPGet("/readyz")
		return code == http.StatusServiceUnavailable
	}, "readyz 503 while the engine is away")
	b.Conn.CloseNow()
	ht.Eventually(t, 10*time.Second, func() bool { return s.Hub.Info().Clients == 1 }, "bob's connection to go")
	ht.Eventually(t, 10*time.Second, func() bool { return s.Hub.PendingPresenceRemovals() == len(channels) }, "bob's removals to be queued")
	left := time.Now()

	eng.start()
	// Long before the entries would expire.
	ht.Eventually(t, ttl/3, func() bool {
		code, _ := s.HTTPGet("/readyz")
		if code != http.StatusOK {
			return false
		}
		for _, ch := range channels {
			if presentBob(ch) {
				return false
			}
		}
		return true
	}, "bob to leave presence once the engine is back")
	t.Logf("bob left presence %v after his connection closed", time.Since(left).Round(time.Millisecond))
	ht.Eventually(t, 5*time.Second, func() bool { return s.Hub.PendingPresenceRemovals() == 0 }, "the queue to empty")
	for _, ch := range channels {
		a.Wait(func(m ht.Msg) bool {
			info, _ := m["info"].(map[string]any)
			return m.Type() == "leave" && m["channel"] == ch && info["client"] == bob
		}, "bob's leave on %s", ch)
	}
	// A marker: a leave announced later than it would show after it.
	c, rc := s.Connect(t, ht.Token(t, "carol", nil))
	c.Call(map[string]any{"type": "subscribe", "channel": channels[0]})
	c.Conn.CloseNow()
	a.Wait(func(m ht.Msg) bool {
		info, _ := m["info"].(map[string]any)
		return m.Type() == "leave" && info["client"] == rc["client"]
	}, "carol's leave")
	for _, m := range a.All() {
		if info, _ := m["info"].(map[string]any); m.Type() == "leave" && info["client"] == bob {
			t.Fatalf("a second leave for bob: %v", m)
		}
	}
	if lines := logs.Lines("presence removal"); len(lines) != 2 || !strings.Contains(lines[1], "recovered") {
		t.Fatalf("presence removal log lines:\n%s\nwant one warning for the outage and one line for its end", strings.Join(lines, "\n"))
	}
}

// TestBackgroundLogsOncePerOutage: the presence refresher and the node
// reporter fail every tick while the engine is away; that is one warning
// each and one line each when they recover, not a line per tick.
func TestBackgroundLogsOncePerOutage(t *testing.T) {
	waitsOnClock(t)
	eng := privateRedis(t)
	var logs logtest.Buffer
	s := ht.Start(t, ht.Options{
		Broker: eng.connect(t, "herald-test-"+randomID()),
		// A refresh and a report every 100 ms.
		Hub: hub.Config{BrokerTimeout: 500 * time.Millisecond, PresenceTTL: 300 * time.Millisecond,
			NodeInfoInterval: 100 * time.Millisecond, Logger: logs.Logger(slog.LevelInfo)},
	})
	c, _ := s.Connect(t, ht.Token(t, "dora", nil))
	c.Call(map[string]any{"type": "subscribe", "channel": "chat:refresh"})
	eng.stop()
	for _, task := range []string{"presence refresh", "node report"} {
		ht.Eventually(t, 10*time.Second, func() bool { return len(logs.Lines(task+" failing")) > 0 }, "the %s to fail", task)
	}
	time.Sleep(time.Second) // a period on purpose: some ten failing ticks, whose lines are counted below
	eng.start()
	for _, task := range []string{"presence refresh", "node report"} {
		ht.Eventually(t, 20*time.Second, func() bool { return len(logs.Lines(task+" recovered")) > 0 }, "the %s to recover", task)
		if lines := logs.Lines(task); len(lines) != 2 {
			t.Fatalf("%s log lines:\n%s\nwant one warning for the outage and one line for its end", task, strings.Join(lines, "\n"))
		}
	}
}

// TestStartedWhileEngineDown: a node started while its Redis is
// unreachable serves, says it is not ready, answers every command that
// needs the engine with error 100, temporary, without waiting out a
// timeout each (before, each subscribe waited 3 s), and refuses a user's
// connect (whose inbox it cannot read) with error 100 and close 4006,
// after which clients reconnect with a backoff.
func TestStartedWhileEngineDown(t *testing.T) {
	waitsOnClock(t)
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		waitsOnClock(t)
		const brokerTimeout = 3 * time.Second
		b, err := redis.New(redis.Options{
			Addrs:  []string{"127.0.0.1:" + strconv.Itoa(services.FreePort(t))}, // nothing listens
			Prefix: "herald-test-" + randomID(), Timeout: brokerTimeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		s := ht.Start(t, ht.Options{Encoding: enc, Broker: b, Hub: hub.Config{Anonymous: true, BrokerTimeout: brokerTimeout}})
		if code, _ := s.HTTPGet("/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("readyz %d, want 503", code)
		}

		c, _ := s.Connect(t, "") // anonymous: no inbox to read
		start := time.Now()
		const rounds = 5
		for i := range rounds {
			ch := "chat:down-" + strconv.Itoa(i)
			for _, cmd := range []map[string]any{
				{"type": "subscribe", "channel": ch},
				{"type": "publish", "channel": ch, "data": 1},
				{"type": "presence", "channel": ch},
				{"type": "presence_stats", "channel": ch},
				{"type": "history", "channel": ch},
			} {
				r := c.Call(cmd)
				e, _ := r["error"].(map[string]any)
				if r.ErrorCode() != 100 || e["temporary"] != true {
					t.Fatalf("%v while the engine is down: %v, want error 100, temporary", cmd["type"], r)
				}
			}
		}
		if d := time.Since(start); d >= brokerTimeout {
			t.Fatalf("%d commands took %v to fail, want them all within one broker timeout (%v)", 5*rounds, d, brokerTimeout)
		}

		u := s.Dial(t)
		r := u.Call(map[string]any{"type": "connect", "token": ht.Token(t, "erin", nil),
			"subs": map[string]any{"chat:down": map[string]any{}}})
		e, _ := r["error"].(map[string]any)
		if r.ErrorCode() != 100 || e["temporary"] != true {
			t.Fatalf("user connect while the engine is down: %v, want error 100, temporary", r)
		}
		d := u.Push("disconnect")
		if ht.Num(d["code"]) != 4006 || d["reason"] != "temporarily unavailable" || d["reconnect"] != true {
			t.Fatalf("disconnect %v, want 4006 temporarily unavailable, reconnect", d)
		}
		if code := u.WaitClosed(5 * time.Second); code != 4006 {
			t.Fatalf("close %d, want 4006", code)
		}
	})
}

// gatedBroker holds the first AddPresence after arm until a RemovePresence
// has run (or a second has passed), to put a presence refresh in flight
// across a removal.
type gatedBroker struct {
	broker.Broker
	mu      sync.Mutex
	armed   bool
	entered chan struct{} // closed when the held AddPresence arrives
	release chan struct{} // closed to let it go on
	added   chan struct{} // closed when it has returned
}

func (g *gatedBroker) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed = true
	g.entered, g.release, g.added = make(chan struct{}), make(chan struct{}), make(chan struct{})
}

func (g *gatedBroker) AddPresence(ctx context.Context, channel string, info *broker.ClientInfo, ttl time.Duration) error {
	g.mu.Lock()
	held := g.armed
	g.armed = false
	g.mu.Unlock()
	if !held {
		return g.Broker.AddPresence(ctx, channel, info, ttl)
	}
	close(g.entered)
	select {
	case <-g.release:
	case <-time.After(time.Second):
	}
	defer close(g.added)
	return g.Broker.AddPresence(context.Background(), channel, info, ttl)
}

func (g *gatedBroker) RemovePresence(ctx context.Context, channel string, info *broker.ClientInfo, announce bool) error {
	err := g.Broker.RemovePresence(ctx, channel, info, announce)
	g.mu.Lock()
	if g.release != nil {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	}
	g.mu.Unlock()
	return err
}

// TestRefreshDoesNotUndoRemoval: a presence refresh in flight when its
// client unsubscribes must not add the entry back after its removal (it
// would stay until its TTL ran out, then be announced as a second leave):
// the removal waits for the refresh.
func TestRefreshDoesNotUndoRemoval(t *testing.T) {
	waitsOnClock(t)
	mb := memory.New(memory.Options{})
	t.Cleanup(func() { mb.Close() })
	g := &gatedBroker{Broker: mb}
	// A refresh every 2 s; the entry would outlive the test.
	s := ht.Start(t, ht.Options{Broker: g, Hub: hub.Config{PresenceTTL: 6 * time.Second}})
	c, rc := s.Connect(t, ht.Token(t, "dora", nil))
	c.Call(map[string]any{"type": "subscribe", "channel": "chat:race"})
	g.arm()
	<-g.entered // the refresh's AddPresence is in flight
	if r := c.Call(map[string]any{"type": "unsubscribe", "channel": "chat:race"}); r.ErrorCode() != 0 {
		t.Fatal(r)
	}
	<-g.added
	p := s.MustAPI("presence", map[string]any{"channel": "chat:race"})["clients"].(map[string]any)
	if p[rc["client"].(string)] != nil {
		t.Fatalf("presence after unsubscribing: %v, want the client gone", p)
	}
}

// TestResubscribeCancelsQueuedRemoval: a client that unsubscribes while
// the engine is away and subscribes again before it is back keeps its
// presence entry: the queued removal of the old subscription's entry is
// dropped, not run against the new one once the engine is back.
func TestResubscribeCancelsQueuedRemoval(t *testing.T) {
	waitsOnClock(t)
	eng := privatePersistentRedis(t)
	var logs logtest.Buffer
	// Without history a subscribe needs the engine only for the node's
	// first subscriber of the channel.
	room := hub.Namespace{Presence: true, JoinLeave: true, AllowPresence: hub.AccessAny}
	s := ht.Start(t, ht.Options{
		Broker: eng.connect(t, "herald-test-"+randomID()),
		Hub: hub.Config{BrokerTimeout: 500 * time.Millisecond, PresenceTTL: 30 * time.Second, Logger: logs.Logger(slog.LevelInfo),
			Namespaces: map[string]hub.Namespace{"room": room}},
	})
	a, _ := s.Connect(t, ht.Token(t, "alice", nil))
	b, rb := s.Connect(t, ht.Token(t, "bob", nil))
	bob := rb["client"].(string)
	a.Call(map[string]any{"type": "subscribe", "channel": "room:x"})
	b.Call(map[string]any{"type": "subscribe", "channel": "room:x"})

	eng.stop()
	ht.Eventually(t, 10*time.Second, func() bool {
		code, _ := s.HTTPGet("/readyz")
		return code == http.StatusServiceUnavailable
	}, "readyz 503 while the engine is away")
	b.Call(map[string]any{"type": "unsubscribe", "channel": "room:x"})
	if r := b.Call(map[string]any{"type": "subscribe", "channel": "room:x"}); r.ErrorCode() != 0 {
		t.Fatalf("subscribe again while the engine is away: %v", r)
	}
	if n := s.Hub.PendingPresenceRemovals(); n != 0 {
		t.Fatalf("%d presence removals queued after subscribing again, want none", n)
	}
	eng.start()
	ht.Eventually(t, 10*time.Second, func() bool {
		code, _ := s.HTTPGet("/readyz")
		return code == http.StatusOK
	}, "readyz 200 once the engine is back")
	p := s.MustAPI("presence", map[string]any{"channel": "room:x"})["clients"].(map[string]any)
	if p[bob] == nil {
		t.Fatalf("presence %v, want bob, who subscribed again", p)
	}
	for _, m := range a.All() {
		if info, _ := m["info"].(map[string]any); m.Type() == "leave" && info["client"] == bob {
			t.Fatalf("a leave for bob, who subscribed again: %v", m)
		}
	}
}
