package brokertest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

func testSubscribeUnsubscribe(t *testing.T, e *env) {
	on, off := e.ch("on"), e.ch("off")
	if err := e.b.Subscribe(ctx, on); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Subscribe(ctx, on); err != nil {
		t.Fatalf("second subscribe: %v", err)
	}
	publish(t, e.b, off, "never", keep(10, time.Hour))
	publish(t, e.b, on, "1", keep(10, time.Hour))
	if _, err := e.rec.Publications(on, 1, wait); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Unsubscribe(ctx, on); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Unsubscribe(ctx, on); err != nil {
		t.Fatalf("second unsubscribe: %v", err)
	}
	publish(t, e.b, on, "2", keep(10, time.Hour))
	// Subscribe again and publish a marker on each channel: a channel's
	// deliveries come in offset order, so once a marker arrives anything
	// published before it has arrived too if it was ever going to.
	for _, ch := range []string{on, off} {
		if err := e.b.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
		publish(t, e.b, ch, "marker", keep(10, time.Hour))
	}
	got, err := e.rec.Publications(on, 2, wait)
	if err != nil || string(got[0].Pub.Data) != "1" || string(got[1].Pub.Data) != "marker" {
		t.Fatalf("on %s: %v, want 1 then the marker (2 was published while unsubscribed)", on, data(got, err))
	}
	got, err = e.rec.Publications(off, 1, wait)
	if err != nil || string(got[0].Pub.Data) != "marker" {
		t.Fatalf("on %s: %v, want only the marker (the first was published before any subscribe)", off, data(got, err))
	}
	if got, _ := e.rec.Publications(on, 0, 0); len(got) != 2 {
		t.Fatalf("on %s: %v, want 2 deliveries", on, data(got, nil))
	}
}

func data(ds []Delivery, err error) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s@%d", d.Pub.Data, d.Pub.Offset))
	}
	return fmt.Sprintf("%v (err %v)", out, err)
}

func testConcurrentOrder(t *testing.T, e *env) {
	ch := e.ch("order")
	if err := e.b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 200
	returned := make([][]broker.StreamPosition, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				pos, _, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte(fmt.Sprint(w))}, keep(workers*per, time.Hour))
				if err != nil {
					t.Error(err)
					return
				}
				returned[w] = append(returned[w], pos)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got, err := e.rec.Publications(ch, workers*per, wait)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != workers*per {
		t.Fatalf("%d deliveries, want %d", len(got), workers*per)
	}
	epoch := got[0].Pos.Epoch
	for i, d := range got {
		if d.Pub.Offset != uint64(i+1) || d.Pos != (broker.StreamPosition{Offset: d.Pub.Offset, Epoch: epoch}) {
			t.Fatalf("delivery %d has offset %d at position %+v: deliveries must follow offsets with no gap", i, d.Pub.Offset, d.Pos)
		}
	}
	// Every publisher was told a distinct offset, and each one's offsets
	// grow: its publishes are sequential.
	seen := make(map[uint64]bool)
	for w, ps := range returned {
		for i, p := range ps {
			if seen[p.Offset] || p.Epoch != epoch || (i > 0 && p.Offset <= ps[i-1].Offset) {
				t.Fatalf("publisher %d's publish %d returned %+v", w, i, p)
			}
			seen[p.Offset] = true
			if string(got[p.Offset-1].Pub.Data) != fmt.Sprint(w) {
				t.Fatalf("offset %d returned to publisher %d but delivered %q", p.Offset, w, got[p.Offset-1].Pub.Data)
			}
		}
	}
	if e.rec.Overlapped() {
		t.Fatal("HandlePublication ran concurrently for one channel")
	}
}

func testIdempotency(t *testing.T, e *env) {
	ch, other, live := e.ch("idem"), e.ch("idem-other"), e.ch("idem-live")
	for _, c := range []string{ch, live} {
		if err := e.b.Subscribe(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	opts := keep(10, time.Hour)
	opts.IdempotencyKey, opts.IdempotencyTTL = "k", time.Minute
	p1, rep1, err1 := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("a")}, opts)
	p2, rep2, err2 := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("a")}, opts)
	if err1 != nil || err2 != nil || rep1 || !rep2 || p1 != p2 || p1.Offset != 1 {
		t.Fatalf("first %+v (repeated %v, %v), repeat %+v (repeated %v, %v)", p1, rep1, err1, p2, rep2, err2)
	}
	if p, rep, err := e.b.Publish(ctx, other, &broker.Publication{Data: []byte("a")}, opts); err != nil || rep || p.Offset != 1 {
		t.Fatalf("same key on another channel: %+v (repeated %v, %v)", p, rep, err)
	}
	opts.IdempotencyKey = "k2"
	if p, rep, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("b")}, opts); err != nil || rep || p.Offset != 2 {
		t.Fatalf("another key: %+v (repeated %v, %v)", p, rep, err)
	}
	publish(t, e.b, ch, "marker", keep(10, time.Hour))
	got, err := e.rec.Publications(ch, 3, wait)
	if err != nil || len(got) != 3 || string(got[0].Pub.Data) != "a" || string(got[1].Pub.Data) != "b" || string(got[2].Pub.Data) != "marker" {
		t.Fatalf("deliveries %s, want a, b, marker", data(got, err))
	}
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{}); err != nil || !eq(offsets(pubs), 1, 2, 3) {
		t.Fatalf("history %s", describe(pubs, pos, err))
	}
	// Without history the first result is offset 0, and still not repeated.
	liveOpts := broker.PublishOptions{IdempotencyKey: "k", IdempotencyTTL: time.Minute}
	for i, want := range []bool{false, true} {
		if p, rep, err := e.b.Publish(ctx, live, &broker.Publication{Data: []byte("l")}, liveOpts); err != nil || rep != want || p != (broker.StreamPosition{}) {
			t.Fatalf("live-only publish %d: %+v (repeated %v, %v)", i, p, rep, err)
		}
	}
	publish(t, e.b, live, "marker", broker.PublishOptions{})
	if got, err := e.rec.Publications(live, 2, wait); err != nil || len(got) != 2 || string(got[1].Pub.Data) != "marker" {
		t.Fatalf("live-only deliveries %s, want l, marker", data(got, err))
	}
}

func testIdempotencyExpiry(t *testing.T, e *env) {
	ch := e.ch("idem-ttl")
	opts := keep(10, time.Hour)
	opts.IdempotencyKey, opts.IdempotencyTTL = "k", shortTTL
	first := publish(t, e.b, ch, "a", opts)
	eventually(t, func() string {
		pos, rep, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("a")}, opts)
		switch {
		case err != nil:
			t.Fatal(err)
		case rep && pos != first:
			t.Fatalf("repeat returned %+v, want %+v", pos, first)
		case rep:
			return "idempotency key not forgotten"
		case pos.Offset != 2:
			t.Fatalf("publish after the key expired: %+v, want offset 2", pos)
		}
		return ""
	})
}

func testJoinLeave(t *testing.T, e *env) {
	ch, unsubscribed := e.ch("joinleave"), e.ch("joinleave-unsubscribed")
	if err := e.b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	info := &broker.ClientInfo{User: "u", Client: "c", ConnInfo: []byte(`{}`)}
	for _, call := range []func(string) error{
		func(c string) error { return e.b.PublishJoin(ctx, c, info) },
		func(c string) error { return e.b.PublishLeave(ctx, c, info) },
	} {
		if err := call(unsubscribed); err != nil {
			t.Fatal(err)
		}
		if err := call(ch); err != nil {
			t.Fatal(err)
		}
	}
	joins, err := e.rec.Joins(ch, 1, wait)
	if err != nil || len(joins) != 1 || joins[0].User != "u" || joins[0].Client != "c" {
		t.Fatalf("joins %+v (%v)", joins, err)
	}
	leaves, err := e.rec.Leaves(ch, 1, wait)
	if err != nil || len(leaves) != 1 || leaves[0].User != "u" || leaves[0].Client != "c" {
		t.Fatalf("leaves %+v (%v)", leaves, err)
	}
	// Events on the unsubscribed channel would have come before these
	// markers.
	if err := e.b.Subscribe(ctx, unsubscribed); err != nil {
		t.Fatal(err)
	}
	marker := &broker.ClientInfo{User: "m", Client: "marker"}
	e.b.PublishJoin(ctx, unsubscribed, marker)
	e.b.PublishLeave(ctx, unsubscribed, marker)
	if j, err := e.rec.Joins(unsubscribed, 1, wait); err != nil || len(j) != 1 || j[0].Client != "marker" {
		t.Fatalf("joins on a channel subscribed late: %+v (%v)", j, err)
	}
	if l, err := e.rec.Leaves(unsubscribed, 1, wait); err != nil || len(l) != 1 || l[0].Client != "marker" {
		t.Fatalf("leaves on a channel subscribed late: %+v (%v)", l, err)
	}
}

func testControl(t *testing.T, e *env) {
	// Unique, because on a shared server every broker gets every control.
	msg := []byte(fmt.Sprintf(`{"op":"test","id":%q}`, e.prefix))
	if err := e.b.PublishControl(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := e.rec.Control(msg, wait); err != nil {
		t.Fatal(err)
	}
}
