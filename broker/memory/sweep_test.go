package memory

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/wait"
)

// state counts what the broker holds, timers included: memory must return
// to zero once everything has expired.
type state struct{ streams, inboxes, presence, idem, timers int }

func (b *Broker) state() state {
	var st state
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		st.streams += len(s.channels.m)
		st.inboxes += len(s.inboxes.m)
		for _, clients := range s.presence.m {
			st.presence += len(clients)
		}
		st.idem += len(s.idem.m)
		st.timers += len(s.channels.timers) + len(s.inboxes.timers) + len(s.presence.timers) + len(s.idem.timers)
		s.mu.Unlock()
	}
	return st
}

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// fill creates n of everything, more than a sweep batch per shard.
func fill(t *testing.T, b *Broker, n int) {
	ctx := context.Background()
	stream := broker.StreamOptions{Size: 5, TTL: time.Minute, MetaTTL: time.Hour}
	for i := range n {
		ch := fmt.Sprint("ch-", i)
		for j := range 3 {
			opts := broker.PublishOptions{Stream: stream, IdempotencyKey: fmt.Sprint("k-", i, "-", j), IdempotencyTTL: time.Minute}
			if _, _, err := b.Publish(ctx, ch, &broker.Publication{}, opts); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Send(ctx, fmt.Sprint("user-", i), &broker.Publication{}, stream); err != nil {
			t.Fatal(err)
		}
		if err := b.AddPresence(ctx, ch, &broker.ClientInfo{User: "u", Client: "c"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSweepFreesEverything(t *testing.T) {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	b := New(Options{Now: c.now, SweepInterval: time.Hour}) // swept by hand
	defer b.Close()
	const n = 64 * sweepBatch / 8 // about 2 batches per shard of each kind
	fill(t, b, n)
	if got := b.state(); got.streams != n || got.inboxes != n || got.presence != n || got.idem != 3*n {
		t.Fatalf("after fill: %+v", got)
	}

	c.advance(2 * time.Minute) // publications, presence and keys expired
	b.sweep()
	got := b.state()
	if got.streams != n || got.inboxes != n || got.presence != 0 || got.idem != 0 {
		t.Fatalf("after the publication TTL: %+v, want only the streams' positions", got)
	}
	if got.timers != 2*n {
		t.Fatalf("%d timers, want one per stream", got.timers)
	}
	for i := range b.shards {
		for _, st := range b.shards[i].channels.m {
			if len(st.entries) != 0 || st.top != 3 {
				t.Fatalf("stream %s kept %d publications (top %d)", st.name, len(st.entries), st.top)
			}
		}
	}

	if u := b.Usage(); u.RetainedBytes != 0 || u.Streams != int64(2*n) {
		t.Fatalf("after the publication TTL: usage %+v", u)
	}

	c.advance(time.Hour) // past the meta TTL
	b.sweep()
	if got := b.state(); got != (state{}) {
		t.Fatalf("after the meta TTL: %+v, want nothing", got)
	}
	if u := b.Usage(); u != (Usage{}) {
		t.Fatalf("after the meta TTL: usage %+v, want nothing", u)
	}
}

// TestForgottenStreamsLeaveNoTimer: a removed, replaced or evicted stream
// leaves the timer heap with the map, so the heap holds exactly the live
// streams and keeps nothing else reachable.
func TestForgottenStreamsLeaveNoTimer(t *testing.T) {
	ctx := context.Background()
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	b := New(Options{Now: c.now, SweepInterval: time.Hour, MetaTTL: time.Hour, MaxStreams: 300})
	defer b.Close()
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 5, TTL: time.Minute}}
	for i := range 400 { // the first 100 evicted
		c.advance(time.Millisecond)
		b.Publish(ctx, fmt.Sprint("ch-", i), &broker.Publication{Data: []byte("x")}, opts)
	}
	for i := 100; i < 200; i++ {
		b.RemoveHistory(ctx, fmt.Sprint("ch-", i))
	}
	c.advance(2 * time.Hour) // every position expired, none swept
	for i := 200; i < 250; i++ {
		b.History(ctx, fmt.Sprint("ch-", i), broker.HistoryOptions{}) // replaced
	}
	got := b.state()
	if got.streams != 200 || got.timers != got.streams {
		t.Fatalf("%+v, want 200 streams and a timer each", got)
	}
	// The 150 expired streams not yet swept still hold their publication.
	if u := b.Usage(); u.Streams != 200 || u.RetainedBytes != 150*(1+entryOverhead) || u.Evicted != 100 {
		t.Fatalf("usage %+v", u)
	}
}

// TestSweepKeepsLiveState: refreshed and re-created state survives its
// stale timers, and goes when its own time comes.
func TestSweepKeepsLiveState(t *testing.T) {
	ctx := context.Background()
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	b := New(Options{Now: c.now, SweepInterval: time.Hour, MetaTTL: time.Hour})
	defer b.Close()
	info := &broker.ClientInfo{User: "u", Client: "c"}
	stream := broker.StreamOptions{Size: 5, TTL: time.Minute}
	b.AddPresence(ctx, "refreshed", info, time.Minute)
	b.AddPresence(ctx, "readded", info, time.Minute)
	b.RemovePresence(ctx, "readded", info, false)
	first, _, _ := b.Publish(ctx, "busy", &broker.Publication{}, broker.PublishOptions{Stream: stream})
	b.Publish(ctx, "removed", &broker.Publication{}, broker.PublishOptions{Stream: stream})

	c.advance(50 * time.Second)
	b.AddPresence(ctx, "refreshed", info, time.Minute)
	b.AddPresence(ctx, "readded", info, time.Minute)
	b.Publish(ctx, "busy", &broker.Publication{}, broker.PublishOptions{Stream: stream})
	b.RemoveHistory(ctx, "removed")
	b.History(ctx, "removed", broker.HistoryOptions{}) // a new, empty stream

	c.advance(20 * time.Second) // the first timers are due, the state is not
	b.sweep()
	for _, ch := range []string{"refreshed", "readded"} {
		if p, _ := b.Presence(ctx, ch); len(p) != 1 {
			t.Fatalf("%s: presence %v swept by a stale timer", ch, p)
		}
	}
	s := b.shard("busy")
	s.mu.Lock()
	busy := s.channels.m["busy"]
	kept, epoch := len(busy.entries), busy.epoch
	s.mu.Unlock()
	if kept != 1 || epoch != first.Epoch {
		t.Fatalf("busy stream kept %d publications in epoch %s, want 1 in %s", kept, epoch, first.Epoch)
	}
	if got := b.state(); got.presence != 2 || got.streams != 2 {
		t.Fatalf("after the stale timers: %+v", got)
	}

	c.advance(2 * time.Hour)
	b.sweep()
	if got := b.state(); got != (state{}) {
		t.Fatalf("after everything expired: %+v, want nothing", got)
	}
}

// TestSweeperRuns: the goroutine sweeps on its own, and Close stops it
// (goleak in TestMain checks the latter).
func TestSweeperRuns(t *testing.T) {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	b := New(Options{Now: c.now, SweepInterval: 5 * time.Millisecond})
	defer b.Close()
	fill(t, b, 100)
	c.advance(2 * time.Hour)
	wait.For(t, 5*time.Second, func() error {
		if st := b.state(); st != (state{}) {
			return fmt.Errorf("sweeper left %+v", st)
		}
		return nil
	})
}

func TestTimersOrder(t *testing.T) {
	var q timers[int]
	for _, at := range []int64{5, 3, 9, 1, 7, 3, 8, 2} {
		q.push(at, int(at))
	}
	if _, ok := q.popDue(0); ok {
		t.Fatal("popped before anything was due")
	}
	var got []int64
	for {
		tm, ok := q.popDue(100)
		if !ok {
			break
		}
		got = append(got, tm.at)
	}
	if fmt.Sprint(got) != "[1 2 3 3 5 7 8 9]" {
		t.Fatalf("popped %v", got)
	}
}
