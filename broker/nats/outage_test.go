package nats

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/internal/logtest"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
)

// TestOutage stops and restarts a real nats-server under a subscribed
// broker: calls fail fast while it is away, the broker resubscribes and
// calls HandleReconnect when it is back, and live delivery resumes. With
// the store kept the stream continues; with the store wiped its epoch
// changes.
func TestOutage(t *testing.T) {
	dir := t.TempDir()
	p := services.StartNATS(t, "-sd", dir)
	b := newBroker(t, testOptions("nats://"+p.Addr(), "herald"))
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	ch := "outage"
	if err := b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	first, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("1")}, keep(10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Publications(ch, 1, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	down := func() {
		t.Helper()
		p.Stop()
		waitFor(t, "Ping to fail", func() bool { return b.Ping(ctx) != nil })
		start := time.Now()
		_, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("lost")}, keep(10))
		if !errors.Is(err, ErrDisconnected) || time.Since(start) > time.Second {
			t.Fatalf("publish during the outage: %v after %v, want ErrDisconnected at once", err, time.Since(start))
		}
		if _, _, err := b.History(ctx, ch, broker.HistoryOptions{}); err == nil {
			t.Fatal("history during the outage succeeded")
		}
	}
	up := func(reconnects int) {
		t.Helper()
		p.Start()
		if n := rec.Reconnects(reconnects, 10*time.Second); n != reconnects {
			t.Fatalf("%d reconnects, want %d", n, reconnects)
		}
		if err := b.Ping(ctx); err != nil {
			t.Fatalf("ping after reconnect: %v", err)
		}
	}

	// The server comes back with its store.
	down()
	up(1)
	pos, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("2")}, keep(10))
	if err != nil || pos != (broker.StreamPosition{Offset: 2, Epoch: first.Epoch}) {
		t.Fatalf("publish after restart: %+v (%v), want offset 2 in %s", pos, err, first.Epoch)
	}
	got, err := rec.Publications(ch, 2, 5*time.Second)
	if err != nil || got[1].Pub.Offset != 2 {
		t.Fatalf("live after restart: %v", err)
	}

	// The server comes back without its store: the stream lost continuity.
	down()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	up(2)
	_, empty, err := b.History(ctx, ch, broker.HistoryOptions{Since: &pos})
	if !errors.Is(err, broker.ErrUnrecoverable) || empty.Offset != 0 || empty.Epoch == first.Epoch {
		t.Fatalf("history after losing the store: %+v (%v), want offset 0 in a new epoch, unrecoverable", empty, err)
	}
	pos, _, err = b.Publish(ctx, ch, &broker.Publication{Data: []byte("new")}, keep(10))
	if err != nil || pos != (broker.StreamPosition{Offset: 1, Epoch: empty.Epoch}) {
		t.Fatalf("publish after losing the store: %+v (%v), want offset 1 in %s", pos, err, empty.Epoch)
	}
	got, err = rec.Publications(ch, 3, 5*time.Second)
	if err != nil || got[2].Pub.Offset != 1 || got[2].Pos.Epoch != empty.Epoch {
		t.Fatalf("live after losing the store: %v", err)
	}
}

// waitFor polls cond, for what only a clock can settle (a connection's
// state).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, 10*time.Second, func() error {
		if cond() {
			return nil
		}
		return errors.New("waiting for " + what)
	})
}

// TestSweepLogsOncePerOutage: with JetStream's presence stream unavailable
// while NATS stays connected, the sweep of every channel fails every round;
// that is one warning when it starts and one line when it ends, not a line
// per channel per round.
func TestSweepLogsOncePerOutage(t *testing.T) {
	p := services.StartNATS(t)
	var logs logtest.Buffer
	o := testOptions("nats://"+p.Addr(), "herald")
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b := newBroker(t, o)
	if err := b.Run(ctx, brokertest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ch := fmt.Sprintf("sweep-%d", i)
		if err := b.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if err := b.AddPresence(ctx, ch, &broker.ClientInfo{User: "u", Client: "c"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.js.DeleteStream(ctx, b.subj.presence); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sweep to fail", func() bool { return len(logs.Lines("presence sweep")) > 0 })
	// A period on purpose: some twenty failing rounds (the sweep runs every
	// 50 ms) of ten channels, whose lines are counted below.
	time.Sleep(time.Second)
	if err := b.ensureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sweep to recover", func() bool { return len(logs.Lines("presence sweep recovered")) > 0 })
	lines := logs.Lines("presence sweep")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "channels=") {
		t.Fatalf("sweep log lines:\n%s\nwant one warning for the outage and one line for its end", strings.Join(lines, "\n"))
	}
}

// TestStartWhileDown: a broker created while NATS is unreachable answers
// every call with ErrDisconnected at once, then connects, makes its
// streams, tells the handler, and works once NATS is up, control messages
// included (Run's subscriptions were sent on connecting).
func TestStartWhileDown(t *testing.T) {
	p := services.StartNATS(t)
	p.Stop()
	b := newBroker(t, testOptions("nats://"+p.Addr(), "herald"))
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatalf("run without NATS: %v", err)
	}
	const ch = "late"
	keep := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	for name, call := range map[string]func() error{
		"Ping":      func() error { return b.Ping(ctx) },
		"Subscribe": func() error { return b.Subscribe(ctx, ch) },
		"Publish": func() error {
			_, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep)
			return err
		},
		"AddPresence": func() error { return b.AddPresence(ctx, ch, &broker.ClientInfo{User: "u", Client: "c"}, time.Minute) },
	} {
		if err := call(); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("%s without NATS: %v, want ErrDisconnected", name, err)
		}
	}

	p.Start()
	if n := rec.Reconnects(1, 10*time.Second); n != 1 {
		t.Fatalf("%d reconnects once NATS is up, want 1", n)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping once NATS is up: %v", err)
	}
	if err := b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	pos, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep)
	if err != nil || pos.Offset != 1 {
		t.Fatalf("publish once NATS is up: %+v (%v)", pos, err)
	}
	if _, err := rec.Publications(ch, 1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishControl(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := rec.Control([]byte("hello"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
