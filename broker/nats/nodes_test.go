package nats

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/internal/services"
)

// nodes returns n brokers sharing a prefix on the shared NATS server, as n
// Herald nodes would, each running with its own recorder.
func nodes(t *testing.T, n int, tune func(*Options)) ([]*Broker, []*brokertest.Recorder) {
	t.Helper()
	url := services.NATS(t)
	prefix := "herald-test-" + randomHex()
	cleanupPrefix(t, url, prefix)
	var bs []*Broker
	var rs []*brokertest.Recorder
	for range n {
		o := testOptions(url, prefix)
		if tune != nil {
			tune(&o)
		}
		b := newBroker(t, o)
		r := brokertest.NewRecorder()
		if err := b.Run(ctx, r); err != nil {
			t.Fatal(err)
		}
		bs, rs = append(bs, b), append(rs, r)
	}
	return bs, rs
}

func keep(size int) broker.PublishOptions {
	return broker.PublishOptions{Stream: broker.StreamOptions{Size: size, TTL: time.Hour}}
}

// checkInOrder waits for offsets 1..n on ch and checks they came in order,
// once each, never two at a time.
func checkInOrder(t *testing.T, r *brokertest.Recorder, ch string, n int) []brokertest.Delivery {
	t.Helper()
	got, err := r.Publications(ch, n, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d deliveries, want %d", len(got), n)
	}
	for i, d := range got {
		if d.Pub.Offset != uint64(i+1) || d.Pos.Offset != d.Pub.Offset || d.Pos.Epoch != got[0].Pos.Epoch {
			t.Fatalf("delivery %d: offset %d at %+v", i, d.Pub.Offset, d.Pos)
		}
	}
	if r.Overlapped() {
		t.Fatal("HandlePublication ran concurrently for one channel")
	}
	return got
}

// TestOrderAcrossNodes: publishers on several nodes race for one channel's
// offsets; a subscriber on another node sees every offset once, in order,
// and each publisher was told the offset its publication was delivered
// with.
func TestOrderAcrossNodes(t *testing.T) {
	const publishers, per = 4, 100
	bs, rs := nodes(t, publishers+1, nil)
	sub, rec := bs[publishers], rs[publishers]
	ch := "order." + randomHex() + ".*>" // subject metacharacters in the name
	if err := sub.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	returned := make([][]uint64, publishers)
	var wg sync.WaitGroup
	for w := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				pos, _, err := bs[w].Publish(ctx, ch, &broker.Publication{Data: []byte(fmt.Sprint(w))}, keep(publishers*per))
				if err != nil {
					t.Error(err)
					return
				}
				returned[w] = append(returned[w], pos.Offset)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := checkInOrder(t, rec, ch, publishers*per)
	for w, offs := range returned {
		for _, o := range offs {
			if string(got[o-1].Pub.Data) != fmt.Sprint(w) {
				t.Fatalf("offset %d returned to publisher %d, delivered from %s", o, w, got[o-1].Pub.Data)
			}
		}
	}
}

// TestHoleFilledFromHistory: a publisher that appends but never publishes
// live (it died in between) leaves a hole the subscriber fills from the
// stream, in order.
func TestHoleFilledFromHistory(t *testing.T) {
	bs, rs := nodes(t, 2, nil)
	pub, sub := bs[0], bs[1]
	ch := "hole-" + randomHex()
	if err := sub.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	n := 0
	pub.skipLive = func(string) bool { n++; return n%3 == 0 || n > 30 }
	for range 33 {
		if _, _, err := pub.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep(100)); err != nil {
			t.Fatal(err)
		}
	}
	pub.skipLive = nil
	// Offsets 31..33 were never sent live; 34 reveals them, and a gap that
	// deep is read through one consumer.
	for range 20 {
		if _, _, err := pub.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep(100)); err != nil {
			t.Fatal(err)
		}
	}
	checkInOrder(t, rs[1], ch, 53)
}

// TestHoleTrimmed: a missing publication already trimmed from the stream is
// skipped: what follows is delivered rather than held forever.
func TestHoleTrimmed(t *testing.T) {
	bs, rs := nodes(t, 2, nil)
	pub, sub := bs[0], bs[1]
	ch := "trimmed-" + randomHex()
	if err := sub.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	pub.skipLive = func(string) bool { return true }
	for range 5 {
		pub.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep(2))
	}
	pub.skipLive = nil
	pub.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep(2))
	got, err := rs[1].Publications(ch, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Size 2 keeps 5 and 6: 1..4 are gone.
	if got[0].Pub.Offset != 5 || got[1].Pub.Offset != 6 {
		t.Fatalf("delivered %d, %d; want 5, 6", got[0].Pub.Offset, got[1].Pub.Offset)
	}
}

// TestIdempotencyAcrossNodes: nodes publishing with one key at once
// publish once between them.
func TestIdempotencyAcrossNodes(t *testing.T) {
	bs, _ := nodes(t, 3, nil)
	ch := "idem-" + randomHex()
	opts := keep(10)
	opts.IdempotencyKey, opts.IdempotencyTTL = "k", time.Minute
	type result struct {
		pos      broker.StreamPosition
		repeated bool
	}
	results := make([]result, 3*4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos, rep, err := bs[i%3].Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, opts)
			if err != nil {
				t.Error(err)
			}
			results[i] = result{pos, rep}
		}()
	}
	wg.Wait()
	first := 0
	for _, r := range results {
		if !r.repeated {
			first++
		}
		if r.pos.Offset != 1 {
			t.Fatalf("result %+v, want offset 1", r)
		}
	}
	if first != 1 {
		t.Fatalf("%d publishes were not repeats, want 1", first)
	}
}

// TestExpiredPresenceLeaveOnce: every subscribed node sweeps, but each
// hears the leave of an expired entry exactly once.
func TestExpiredPresenceLeaveOnce(t *testing.T) {
	bs, rs := nodes(t, 3, nil)
	ch := "leave-" + randomHex()
	for _, b := range bs {
		if err := b.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	// Added by a node that then dies without removing it.
	crashed := newBroker(t, bs[0].opts)
	if err := crashed.AddPresence(ctx, ch, &broker.ClientInfo{User: "u", Client: "gone"}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	crashed.Close()
	for i, r := range rs {
		if _, err := r.Leaves(ch, 1, 5*time.Second); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // a period on purpose: several sweeps, in which a second leave would come
	for i, r := range rs {
		if l, _ := r.Leaves(ch, 2, 0); len(l) != 1 {
			t.Fatalf("node %d heard %d leaves, want 1", i, len(l))
		}
	}
}

// TestDirectsAcrossNodes: every node receives every direct message, in
// order per user, whichever node sent it.
func TestDirectsAcrossNodes(t *testing.T) {
	bs, rs := nodes(t, 3, nil)
	user := "user-" + randomHex()
	opts := broker.StreamOptions{Size: 100, TTL: time.Hour}
	// The first message gives each node's orderer its start.
	if _, err := bs[0].Send(ctx, user, &broker.Publication{Data: []byte("first")}, opts); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if _, err := r.Directs(user, 1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 30 {
				if _, err := b.Send(ctx, user, &broker.Publication{Data: []byte("x")}, opts); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, r := range rs {
		got, err := r.Directs(user, 91, 10*time.Second)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		for j, d := range got {
			if d.Pub.Offset != uint64(j+1) {
				t.Fatalf("node %d: direct %d has offset %d", i, j, d.Pub.Offset)
			}
		}
	}
}
