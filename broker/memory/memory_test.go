package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		// A fast sweeper, so the suite also runs it against live traffic.
		return memory.New(memory.Options{SweepInterval: 20 * time.Millisecond})
	})
}

var ctx = context.Background()

// clock is a settable time source for memory.Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newBroker(t *testing.T, o memory.Options) *memory.Broker {
	b := memory.New(o)
	t.Cleanup(func() { b.Close() })
	return b
}

func publish(t *testing.T, b *memory.Broker, ch string, opts broker.StreamOptions) broker.StreamPosition {
	t.Helper()
	pos, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, broker.PublishOptions{Stream: opts})
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// TestMetaTTL: a stream idle past its meta TTL is forgotten and the next
// one has a new epoch; reading it with a MetaTTL keeps it alive.
func TestMetaTTL(t *testing.T) {
	c := newClock()
	b := newBroker(t, memory.Options{Now: c.now})
	opts := broker.StreamOptions{Size: 10, TTL: time.Minute, MetaTTL: time.Hour}
	first := publish(t, b, "c", opts)
	c.advance(50 * time.Minute)
	// The publication expired; the position did not.
	if pubs, pos, err := b.History(ctx, "c", broker.HistoryOptions{MetaTTL: time.Hour}); err != nil || len(pubs) != 0 || pos != first {
		t.Fatalf("within meta TTL: %d publications at %+v (%v), want none at %+v", len(pubs), pos, err, first)
	}
	c.advance(50 * time.Minute) // 100 minutes after the publish, 50 after the read
	if _, pos, _ := b.History(ctx, "c", broker.HistoryOptions{MetaTTL: time.Hour}); pos != first {
		t.Fatalf("a read did not refresh the meta TTL: %+v, want %+v", pos, first)
	}
	c.advance(61 * time.Minute)
	_, pos, err := b.History(ctx, "c", broker.HistoryOptions{Since: &first})
	if !errors.Is(err, broker.ErrUnrecoverable) || pos.Offset != 0 || pos.Epoch == first.Epoch || pos.Epoch == "" {
		t.Fatalf("after meta TTL: %+v (%v), want offset 0 in a new epoch and ErrUnrecoverable", pos, err)
	}
	if p := publish(t, b, "c", opts); p.Offset != 1 || p.Epoch != pos.Epoch {
		t.Fatalf("publish into the new stream: %+v, want offset 1 in %s", p, pos.Epoch)
	}
}

// TestDefaultMetaTTL: a zero StreamOptions.MetaTTL means the broker's
// default, not the publication TTL: a client that saw the last publication
// must still recover long after it expired.
func TestDefaultMetaTTL(t *testing.T) {
	c := newClock()
	b := newBroker(t, memory.Options{Now: c.now, MetaTTL: 3 * time.Hour})
	last := publish(t, b, "c", broker.StreamOptions{Size: 10, TTL: time.Minute})
	c.advance(2 * time.Hour)
	if pubs, pos, err := b.History(ctx, "c", broker.HistoryOptions{Since: &last}); err != nil || len(pubs) != 0 || pos != last {
		t.Fatalf("2h later: %d publications at %+v (%v), want none at %+v", len(pubs), pos, err, last)
	}
	c.advance(3*time.Hour + time.Second) // past the default since the read refreshed it
	if _, pos, _ := b.History(ctx, "c", broker.HistoryOptions{}); pos.Epoch == last.Epoch {
		t.Fatalf("stream outlived the default meta TTL: %+v", pos)
	}
}

// TestMetaTTLShorterThanTTL: the position lives at least as long as the
// publications it numbers, whatever MetaTTL says.
func TestMetaTTLShorterThanTTL(t *testing.T) {
	c := newClock()
	b := newBroker(t, memory.Options{Now: c.now})
	first := publish(t, b, "c", broker.StreamOptions{Size: 10, TTL: time.Hour, MetaTTL: time.Minute})
	c.advance(30 * time.Minute)
	if pubs, pos, err := b.History(ctx, "c", broker.HistoryOptions{MetaTTL: time.Minute}); err != nil || len(pubs) != 1 || pos != first {
		t.Fatalf("30m later: %d publications at %+v (%v)", len(pubs), pos, err)
	}
}

// TestInboxMetaTTL: inboxes follow the same rules as channels.
func TestInboxMetaTTL(t *testing.T) {
	c := newClock()
	b := newBroker(t, memory.Options{Now: c.now})
	opts := broker.StreamOptions{Size: 10, TTL: time.Minute, MetaTTL: time.Hour}
	first, err := b.Send(ctx, "u", &broker.Publication{Data: []byte("x")}, opts)
	if err != nil || first.Offset != 1 {
		t.Fatalf("send: %+v (%v)", first, err)
	}
	c.advance(30 * time.Minute)
	if pubs, pos, err := b.InboxHistory(ctx, "u", broker.HistoryOptions{Since: &first, MetaTTL: time.Hour}); err != nil || len(pubs) != 0 || pos != first {
		t.Fatalf("30m later: %d messages at %+v (%v)", len(pubs), pos, err)
	}
	c.advance(61 * time.Minute)
	if _, pos, _ := b.InboxHistory(ctx, "u", broker.HistoryOptions{}); pos.Offset != 0 || pos.Epoch == first.Epoch {
		t.Fatalf("after meta TTL: %+v", pos)
	}
}

// TestIdempotencyDefaultTTL: a key with no TTL is remembered for
// Options.IdempotencyTTL rather than ignored.
func TestIdempotencyDefaultTTL(t *testing.T) {
	c := newClock()
	b := newBroker(t, memory.Options{Now: c.now, IdempotencyTTL: time.Minute})
	opts := broker.PublishOptions{IdempotencyKey: "k", Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	pub := func() (broker.StreamPosition, bool) {
		pos, rep, err := b.Publish(ctx, "c", &broker.Publication{Data: []byte("x")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return pos, rep
	}
	first, _ := pub()
	c.advance(59 * time.Second)
	if pos, rep := pub(); !rep || pos != first {
		t.Fatalf("within the default TTL: %+v (repeated %v)", pos, rep)
	}
	c.advance(time.Second)
	if pos, rep := pub(); rep || pos.Offset != 2 {
		t.Fatalf("after the default TTL: %+v (repeated %v)", pos, rep)
	}
}

func TestPresenceArguments(t *testing.T) {
	b := newBroker(t, memory.Options{})
	if err := b.AddPresence(ctx, "c", nil, time.Minute); err == nil {
		t.Error("nil info accepted")
	}
	if err := b.AddPresence(ctx, "c", &broker.ClientInfo{Client: "x"}, 0); err == nil {
		t.Error("zero ttl accepted")
	}
}

// TestWithoutHandler: a broker that was never Run still works; nothing is
// delivered.
func TestWithoutHandler(t *testing.T) {
	b := newBroker(t, memory.Options{})
	if err := b.Subscribe(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if pos := publish(t, b, "c", broker.StreamOptions{Size: 1, TTL: time.Minute}); pos.Offset != 1 {
		t.Fatalf("publish: %+v", pos)
	}
	if err := b.PublishControl(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestRunReplacesHandler: a server restarted in the same process hands the
// broker a new handler and keeps its streams.
func TestRunReplacesHandler(t *testing.T) {
	b := newBroker(t, memory.Options{})
	old, cur := brokertest.NewRecorder(), brokertest.NewRecorder()
	b.Run(ctx, old)
	b.Subscribe(ctx, "c")
	publish(t, b, "c", broker.StreamOptions{Size: 10, TTL: time.Minute})
	b.Run(ctx, cur)
	publish(t, b, "c", broker.StreamOptions{Size: 10, TTL: time.Minute})
	if got, _ := old.Publications("c", 0, 0); len(got) != 1 {
		t.Fatalf("old handler got %d", len(got))
	}
	if got, _ := cur.Publications("c", 0, 0); len(got) != 1 || got[0].Pub.Offset != 2 {
		t.Fatalf("new handler got %d", len(got))
	}
}

func TestCloseTwice(t *testing.T) {
	b := memory.New(memory.Options{})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("ping after close: %v", err)
	}
}

// nopHandler is the cheapest possible hub, so benchmarks measure the broker.
type nopHandler struct{}

func (nopHandler) HandlePublication(string, *broker.Publication, broker.StreamPosition) {}
func (nopHandler) HandleJoin(string, *broker.ClientInfo)                                {}
func (nopHandler) HandleLeave(string, *broker.ClientInfo)                               {}
func (nopHandler) HandleDirect(string, *broker.Publication, broker.StreamPosition)      {}
func (nopHandler) HandleControl([]byte)                                                 {}
func (nopHandler) HandleReconnect()                                                     {}

var benchData = []byte(`{"text":"hello, world"}`)

// BenchmarkPublish is one channel, one publisher, delivered to a subscribed
// handler. The publication itself is allocated by the caller, as the hub
// does, and counted.
func BenchmarkPublish(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts broker.PublishOptions
	}{
		{"live", broker.PublishOptions{}},
		{"history", broker.PublishOptions{Stream: broker.StreamOptions{Size: 100, TTL: time.Hour}}},
		{"history+idempotency", broker.PublishOptions{Stream: broker.StreamOptions{Size: 100, TTL: time.Hour}, IdempotencyTTL: time.Minute}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			br := memory.New(memory.Options{})
			defer br.Close()
			br.Run(ctx, nopHandler{})
			br.Subscribe(ctx, "bench")
			keys := tc.opts.IdempotencyTTL > 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				opts := tc.opts
				if keys {
					i++
					opts.IdempotencyKey = fmt.Sprint(i)
				}
				if _, _, err := br.Publish(ctx, "bench", &broker.Publication{Data: benchData}, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublishParallel publishes with history from every P, each on its
// own channel: the sharded locks should let this scale.
func BenchmarkPublishParallel(b *testing.B) {
	br := memory.New(memory.Options{})
	defer br.Close()
	br.Run(ctx, nopHandler{})
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 100, TTL: time.Hour}}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ch := fmt.Sprint("bench-", n.Add(1))
		br.Subscribe(ctx, ch)
		for pb.Next() {
			if _, _, err := br.Publish(ctx, ch, &broker.Publication{Data: benchData}, opts); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHistorySince is the recovery read: the newest 10 of 100.
func BenchmarkHistorySince(b *testing.B) {
	br := memory.New(memory.Options{})
	defer br.Close()
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 100, TTL: time.Hour}}
	var pos broker.StreamPosition
	for range 100 {
		pos, _, _ = br.Publish(ctx, "bench", &broker.Publication{Data: benchData}, opts)
	}
	since := broker.StreamPosition{Offset: pos.Offset - 10, Epoch: pos.Epoch}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := br.History(ctx, "bench", broker.HistoryOptions{Since: &since}); err != nil {
			b.Fatal(err)
		}
	}
}
