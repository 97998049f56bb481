// Package brokertest is the conformance suite every Herald broker must
// pass: the memory broker now, Redis and NATS alike. A broker that passes
// it gives the hub what the protocol promises (offsets without gaps or
// repeats, epochs that change when continuity is lost, delivery in offset
// order, exact recovery).
//
// Each subtest creates its own broker and uses channel names unique to the
// run, so brokers that share a server (Redis, NATS) can run it in parallel.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

// Factory returns a new broker for one subtest; the suite closes it.
type Factory func(t *testing.T) broker.Broker

// Run runs the whole suite against brokers made by newBroker.
func Run(t *testing.T, newBroker Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"OffsetsAndEpoch", testOffsetsAndEpoch},
		{"SizeTrim", testSizeTrim},
		{"TTLExpiry", testTTLExpiry},
		{"HistoryQueries", testHistoryQueries},
		{"Unrecoverable", testUnrecoverable},
		{"EmptyChannelHasStableEpoch", testEmptyChannelEpoch},
		{"RemoveHistoryChangesEpoch", testRemoveHistory},
		{"NoHistory", testNoHistory},
		{"SubscribeUnsubscribe", testSubscribeUnsubscribe},
		{"OrderUnderConcurrentPublishers", testConcurrentOrder},
		{"Idempotency", testIdempotency},
		{"Presence", testPresence},
		{"PresenceExpiry", testPresenceExpiry},
		{"JoinLeave", testJoinLeave},
		{"Inbox", testInbox},
		{"Control", testControl},
		{"RecoveryRace", testRecoveryRace},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t)
			rec := NewRecorder()
			if err := b.Run(context.Background(), rec); err != nil {
				t.Fatalf("run: %v", err)
			}
			t.Cleanup(func() { b.Close() })
			tc.fn(t, &env{b: b, rec: rec, prefix: "bt-" + randomHex() + "-"})
		})
	}
}

type env struct {
	b      broker.Broker
	rec    *Recorder
	prefix string
}

func (e *env) ch(name string) string { return e.prefix + name }

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var ctx = context.Background()

const wait = 5 * time.Second

func stream(size int, ttl time.Duration) broker.PublishOptions {
	return broker.PublishOptions{Stream: broker.StreamOptions{Size: size, TTL: ttl}}
}

func publish(t *testing.T, b broker.Broker, ch string, data string, opts broker.PublishOptions) broker.StreamPosition {
	t.Helper()
	pos, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte(data)}, opts)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return pos
}

func offsets(pubs []*broker.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

func eq(a []uint64, b ...uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testOffsetsAndEpoch(t *testing.T, e *env) {
	ch := e.ch("offsets")
	var epoch string
	for i := uint64(1); i <= 5; i++ {
		pos := publish(t, e.b, ch, fmt.Sprint(i), stream(10, time.Hour))
		if pos.Offset != i {
			t.Fatalf("publish %d got offset %d", i, pos.Offset)
		}
		if pos.Epoch == "" || (epoch != "" && pos.Epoch != epoch) {
			t.Fatalf("epoch %q after %q", pos.Epoch, epoch)
		}
		epoch = pos.Epoch
	}
	pubs, pos, err := e.b.History(ctx, ch, broker.HistoryOptions{})
	if err != nil || pos.Offset != 5 || pos.Epoch != epoch || !eq(offsets(pubs), 1, 2, 3, 4, 5) {
		t.Fatalf("history %v %v %v", offsets(pubs), pos, err)
	}
	if string(pubs[2].Data) != "3" || pubs[2].Time == 0 {
		t.Fatalf("publication %+v", pubs[2])
	}
}

func testSizeTrim(t *testing.T, e *env) {
	ch := e.ch("trim")
	for i := 0; i < 7; i++ {
		publish(t, e.b, ch, "x", stream(3, time.Hour))
	}
	pubs, pos, err := e.b.History(ctx, ch, broker.HistoryOptions{})
	if err != nil || pos.Offset != 7 || !eq(offsets(pubs), 5, 6, 7) {
		t.Fatalf("history %v %v %v", offsets(pubs), pos, err)
	}
}

func testTTLExpiry(t *testing.T, e *env) {
	ch := e.ch("ttl")
	first := publish(t, e.b, ch, "old", stream(10, 300*time.Millisecond))
	deadline := time.Now().Add(wait)
	for {
		pubs, pos, err := e.b.History(ctx, ch, broker.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pubs) == 0 {
			if pos.Offset != 1 || pos.Epoch != first.Epoch {
				t.Fatalf("position after expiry %v, want offset 1 in epoch %s", pos, first.Epoch)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("publication did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pos := publish(t, e.b, ch, "new", stream(10, 300*time.Millisecond))
	if pos.Offset != 2 || pos.Epoch != first.Epoch {
		t.Fatalf("publish after expiry %v", pos)
	}
}

func testHistoryQueries(t *testing.T, e *env) {
	ch := e.ch("queries")
	var epoch string
	for i := 0; i < 6; i++ {
		epoch = publish(t, e.b, ch, "x", stream(10, time.Hour)).Epoch
	}
	since := func(o uint64) *broker.StreamPosition { return &broker.StreamPosition{Offset: o, Epoch: epoch} }
	cases := []struct {
		name string
		opts broker.HistoryOptions
		want []uint64
	}{
		{"all", broker.HistoryOptions{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"limit", broker.HistoryOptions{Limit: 2}, []uint64{1, 2}},
		{"reverse", broker.HistoryOptions{Limit: 2, Reverse: true}, []uint64{6, 5}},
		{"reverse all", broker.HistoryOptions{Reverse: true}, []uint64{6, 5, 4, 3, 2, 1}},
		{"since", broker.HistoryOptions{Since: since(3)}, []uint64{4, 5, 6}},
		{"since limit", broker.HistoryOptions{Since: since(1), Limit: 2}, []uint64{2, 3}},
		{"since reverse", broker.HistoryOptions{Since: since(2), Limit: 2, Reverse: true}, []uint64{6, 5}},
		{"since top", broker.HistoryOptions{Since: since(6)}, []uint64{}},
		{"negative limit", broker.HistoryOptions{Limit: -1}, []uint64{}},
	}
	for _, tc := range cases {
		pubs, pos, err := e.b.History(ctx, ch, tc.opts)
		if err != nil || pos.Offset != 6 || !eq(offsets(pubs), tc.want...) {
			t.Errorf("%s: %v %v %v, want %v", tc.name, offsets(pubs), pos, err, tc.want)
		}
	}
}

func testUnrecoverable(t *testing.T, e *env) {
	ch := e.ch("unrecoverable")
	var epoch string
	for i := 0; i < 5; i++ {
		epoch = publish(t, e.b, ch, "x", stream(3, time.Hour)).Epoch
	}
	// Retained: 3, 4, 5.
	pubs, pos, err := e.b.History(ctx, ch, broker.HistoryOptions{Since: &broker.StreamPosition{Offset: 1, Epoch: epoch}})
	if !errors.Is(err, broker.ErrUnrecoverable) || pos.Offset != 5 || !eq(offsets(pubs), 3, 4, 5) {
		t.Fatalf("trimmed gap: %v %v %v", offsets(pubs), pos, err)
	}
	pubs, _, err = e.b.History(ctx, ch, broker.HistoryOptions{Since: &broker.StreamPosition{Offset: 2, Epoch: epoch}})
	if err != nil || !eq(offsets(pubs), 3, 4, 5) {
		t.Fatalf("just recoverable: %v %v", offsets(pubs), err)
	}
	pubs, pos, err = e.b.History(ctx, ch, broker.HistoryOptions{Since: &broker.StreamPosition{Offset: 4, Epoch: "other"}})
	if !errors.Is(err, broker.ErrUnrecoverable) || pos.Epoch != epoch || !eq(offsets(pubs), 3, 4, 5) {
		t.Fatalf("wrong epoch: %v %v %v", offsets(pubs), pos, err)
	}
	if _, _, err = e.b.History(ctx, ch, broker.HistoryOptions{Since: &broker.StreamPosition{Offset: 9, Epoch: epoch}}); !errors.Is(err, broker.ErrUnrecoverable) {
		t.Fatalf("offset from the future: %v", err)
	}
}

func testEmptyChannelEpoch(t *testing.T, e *env) {
	ch := e.ch("empty")
	_, p1, err := e.b.History(ctx, ch, broker.HistoryOptions{Limit: -1})
	if err != nil || p1.Offset != 0 || p1.Epoch == "" {
		t.Fatalf("empty channel position %v %v", p1, err)
	}
	_, p2, _ := e.b.History(ctx, ch, broker.HistoryOptions{Limit: -1})
	pos := publish(t, e.b, ch, "x", stream(10, time.Hour))
	if p2.Epoch != p1.Epoch || pos.Epoch != p1.Epoch || pos.Offset != 1 {
		t.Fatalf("epochs %s %s %s", p1.Epoch, p2.Epoch, pos.Epoch)
	}
	pubs, _, err := e.b.History(ctx, ch, broker.HistoryOptions{Since: &p1})
	if err != nil || !eq(offsets(pubs), 1) {
		t.Fatalf("recover from the empty position: %v %v", offsets(pubs), err)
	}
}

func testRemoveHistory(t *testing.T, e *env) {
	ch := e.ch("remove")
	old := publish(t, e.b, ch, "x", stream(10, time.Hour))
	if err := e.b.RemoveHistory(ctx, ch); err != nil {
		t.Fatal(err)
	}
	pubs, pos, err := e.b.History(ctx, ch, broker.HistoryOptions{})
	if err != nil || len(pubs) != 0 || pos.Epoch == old.Epoch || pos.Offset != 0 {
		t.Fatalf("after remove: %v %v %v", offsets(pubs), pos, err)
	}
	if p := publish(t, e.b, ch, "y", stream(10, time.Hour)); p.Offset != 1 || p.Epoch != pos.Epoch {
		t.Fatalf("first publish after remove %v", p)
	}
}

func testNoHistory(t *testing.T, e *env) {
	ch := e.ch("nohistory")
	if err := e.b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	pos, repeated, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("live")}, broker.PublishOptions{})
	if err != nil || repeated || pos.Offset != 0 {
		t.Fatalf("publish without history: %v %v %v", pos, repeated, err)
	}
	got, err := e.rec.Publications(ch, 1, wait)
	if err != nil || string(got[0].Pub.Data) != "live" || got[0].Pub.Offset != 0 {
		t.Fatalf("delivery %v %v", got, err)
	}
	pubs, _, _ := e.b.History(ctx, ch, broker.HistoryOptions{})
	if len(pubs) != 0 {
		t.Fatalf("history kept %d publications", len(pubs))
	}
}

func testSubscribeUnsubscribe(t *testing.T, e *env) {
	on, off := e.ch("on"), e.ch("off")
	if err := e.b.Subscribe(ctx, on); err != nil {
		t.Fatal(err)
	}
	publish(t, e.b, off, "ignored", stream(10, time.Hour))
	publish(t, e.b, on, "1", stream(10, time.Hour))
	if _, err := e.rec.Publications(on, 1, wait); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Unsubscribe(ctx, on); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Unsubscribe(ctx, on); err != nil {
		t.Fatalf("second unsubscribe: %v", err)
	}
	publish(t, e.b, on, "2", stream(10, time.Hour))
	// A marker on a subscribed channel: once it arrives, anything published
	// before it that was going to arrive has.
	marker := e.ch("marker")
	e.b.Subscribe(ctx, marker)
	publish(t, e.b, marker, "m", stream(10, time.Hour))
	if _, err := e.rec.Publications(marker, 1, wait); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.rec.Publications(on, 0, 0); len(got) != 1 {
		t.Fatalf("%d deliveries on %s, want 1 (after unsubscribe)", len(got), on)
	}
	if got, _ := e.rec.Publications(off, 0, 0); len(got) != 0 {
		t.Fatalf("delivered on a channel never subscribed")
	}
}

func testConcurrentOrder(t *testing.T, e *env) {
	ch := e.ch("order")
	e.b.Subscribe(ctx, ch)
	const workers, per = 8, 100
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, _, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, stream(1000, time.Hour)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := e.rec.Publications(ch, workers*per, wait)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range got {
		if d.Pub.Offset != uint64(i+1) || d.Pos.Offset != d.Pub.Offset {
			t.Fatalf("delivery %d has offset %d (position %v)", i, d.Pub.Offset, d.Pos)
		}
	}
	if e.rec.Overlapped() {
		t.Fatal("deliveries for one channel ran concurrently")
	}
}

func testIdempotency(t *testing.T, e *env) {
	ch, other := e.ch("idem"), e.ch("idem-other")
	e.b.Subscribe(ctx, ch)
	opts := stream(10, time.Hour)
	opts.IdempotencyKey, opts.IdempotencyTTL = "k", time.Minute
	p1, rep1, err1 := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("a")}, opts)
	p2, rep2, err2 := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("a")}, opts)
	if err1 != nil || err2 != nil || rep1 || !rep2 || p1 != p2 {
		t.Fatalf("repeat: %v %v %v / %v %v %v", p1, rep1, err1, p2, rep2, err2)
	}
	if p3, rep3, _ := e.b.Publish(ctx, other, &broker.Publication{Data: []byte("a")}, opts); rep3 || p3.Offset != 1 {
		t.Fatalf("same key on another channel: %v %v", p3, rep3)
	}
	publish(t, e.b, ch, "marker", stream(10, time.Hour))
	got, err := e.rec.Publications(ch, 2, wait)
	if err != nil || len(got) != 2 || string(got[1].Pub.Data) != "marker" {
		t.Fatalf("deliveries %v %v", got, err)
	}
	pubs, _, _ := e.b.History(ctx, ch, broker.HistoryOptions{})
	if len(pubs) != 2 {
		t.Fatalf("history has %d, want 2", len(pubs))
	}
}

func testPresence(t *testing.T, e *env) {
	ch := e.ch("presence")
	a1 := &broker.ClientInfo{User: "alice", Client: "a1", ConnInfo: []byte(`{"n":1}`)}
	a2 := &broker.ClientInfo{User: "alice", Client: "a2"}
	b1 := &broker.ClientInfo{User: "bob", Client: "b1"}
	for _, c := range []*broker.ClientInfo{a1, a2, b1, a1} {
		if err := e.b.AddPresence(ctx, ch, c, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.b.Presence(ctx, ch)
	if err != nil || len(p) != 3 || p["a1"].User != "alice" || string(p["a1"].ConnInfo) != `{"n":1}` {
		t.Fatalf("presence %v %v", p, err)
	}
	st, _ := e.b.PresenceStats(ctx, ch)
	if st.Clients != 3 || st.Users != 2 {
		t.Fatalf("stats %+v", st)
	}
	e.b.RemovePresence(ctx, ch, "b1")
	st, _ = e.b.PresenceStats(ctx, ch)
	if st.Clients != 2 || st.Users != 1 {
		t.Fatalf("stats after remove %+v", st)
	}
	if p, _ := e.b.Presence(ctx, e.ch("nobody")); len(p) != 0 {
		t.Fatalf("empty channel presence %v", p)
	}
}

func testPresenceExpiry(t *testing.T, e *env) {
	ch := e.ch("presence-ttl")
	e.b.AddPresence(ctx, ch, &broker.ClientInfo{User: "u", Client: "gone"}, 200*time.Millisecond)
	e.b.AddPresence(ctx, ch, &broker.ClientInfo{User: "u", Client: "kept"}, time.Minute)
	deadline := time.Now().Add(wait)
	for {
		p, _ := e.b.Presence(ctx, ch)
		if _, ok := p["gone"]; !ok {
			if _, ok := p["kept"]; !ok {
				t.Fatal("unexpired entry gone")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("entry did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testJoinLeave(t *testing.T, e *env) {
	ch := e.ch("joinleave")
	e.b.Subscribe(ctx, ch)
	info := &broker.ClientInfo{User: "u", Client: "c"}
	e.b.PublishJoin(ctx, ch, info)
	e.b.PublishLeave(ctx, ch, info)
	e.b.PublishJoin(ctx, e.ch("unsubscribed"), info)
	j, l, err := e.rec.Presence(ch, 1, 1, wait)
	if err != nil || j[0].Client != "c" || j[0].User != "u" || l[0].Client != "c" {
		t.Fatalf("join/leave %v %v %v", j, l, err)
	}
}

func testInbox(t *testing.T, e *env) {
	user := e.ch("user")
	opts := broker.StreamOptions{Size: 2, TTL: time.Hour}
	_, empty, err := e.b.InboxHistory(ctx, user, broker.HistoryOptions{Limit: -1})
	if err != nil || empty.Epoch == "" {
		t.Fatalf("empty inbox %v %v", empty, err)
	}
	var pos broker.StreamPosition
	for i := 1; i <= 3; i++ {
		pos, err = e.b.Send(ctx, user, &broker.Publication{Data: []byte(fmt.Sprint(i)), Info: &broker.ClientInfo{User: "from"}}, opts)
		if err != nil || pos.Offset != uint64(i) || pos.Epoch != empty.Epoch {
			t.Fatalf("send %d: %v %v", i, pos, err)
		}
	}
	got, err := e.rec.Directs(user, 3, wait)
	if err != nil || got[2].Pos != pos || got[0].Pub.Info.User != "from" {
		t.Fatalf("directs %v %v", got, err)
	}
	pubs, _, err := e.b.InboxHistory(ctx, user, broker.HistoryOptions{Since: &broker.StreamPosition{Offset: 1, Epoch: pos.Epoch}})
	if err != nil || !eq(offsets(pubs), 2, 3) {
		t.Fatalf("inbox since 1: %v %v", offsets(pubs), err)
	}
	if _, _, err := e.b.InboxHistory(ctx, user, broker.HistoryOptions{Since: &empty}); !errors.Is(err, broker.ErrUnrecoverable) {
		t.Fatalf("trimmed inbox: %v", err)
	}
	live, err := e.b.Send(ctx, e.ch("nobox"), &broker.Publication{Data: []byte("x")}, broker.StreamOptions{})
	if err != nil || live.Offset != 0 {
		t.Fatalf("send without inbox: %v %v", live, err)
	}
	if _, err := e.rec.Directs(e.ch("nobox"), 1, wait); err != nil {
		t.Fatal(err)
	}
}

func testControl(t *testing.T, e *env) {
	if err := e.b.PublishControl(ctx, []byte(`{"op":"x"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := e.rec.Controls(1, wait)
	if err != nil || string(got[0]) != `{"op":"x"}` {
		t.Fatalf("control %q %v", got, err)
	}
}

// testRecoveryRace is the hub's subscribe-with-recovery sequence under load:
// subscribe, read history since a position, and merge with what is
// delivered live. Every offset must appear exactly once.
func testRecoveryRace(t *testing.T, e *env) {
	for round := 0; round < 10; round++ {
		ch := e.ch(fmt.Sprint("race-", round))
		start := publish(t, e.b, ch, "0", stream(1000, time.Hour))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					select {
					case <-stop:
						return
					default:
					}
					e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, stream(1000, time.Hour))
				}
			}()
		}
		if err := e.b.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
		pubs, _, err := e.b.History(ctx, ch, broker.HistoryOptions{Since: &start})
		if err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		end := publish(t, e.b, ch, "end", stream(1000, time.Hour))
		seen := map[uint64]int{}
		for _, p := range pubs {
			seen[p.Offset]++
		}
		live, err := e.rec.Publications(ch, 1, wait)
		for err == nil && live[len(live)-1].Pub.Offset != end.Offset {
			live, err = e.rec.Publications(ch, len(live)+1, wait)
		}
		if err != nil {
			t.Fatal(err)
		}
		top := uint64(1)
		if len(pubs) > 0 {
			top = pubs[len(pubs)-1].Offset
		}
		for _, d := range live {
			if d.Pub.Offset > top {
				seen[d.Pub.Offset]++
			}
		}
		for o := uint64(2); o <= end.Offset; o++ {
			if seen[o] != 1 {
				t.Fatalf("round %d: offset %d seen %d times", round, o, seen[o])
			}
		}
	}
}

func testClosed(t *testing.T, e *env) {
	e.b.Close()
	ch := e.ch("closed")
	if _, _, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, stream(10, time.Hour)); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("publish after close: %v", err)
	}
	if _, _, err := e.b.History(ctx, ch, broker.HistoryOptions{}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("history after close: %v", err)
	}
	if err := e.b.Subscribe(ctx, ch); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("subscribe after close: %v", err)
	}
	if _, err := e.b.Send(ctx, "u", &broker.Publication{Data: []byte("x")}, broker.StreamOptions{}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
	if err := e.b.AddPresence(ctx, ch, &broker.ClientInfo{Client: "c"}, time.Minute); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("presence after close: %v", err)
	}
}
