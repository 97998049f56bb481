package brokertest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

func testOffsetsAndEpoch(t *testing.T, e *env) {
	ch := e.ch("offsets")
	info := &broker.ClientInfo{User: "alice", Client: "c1", ConnInfo: []byte(`{"name":"Alice"}`)}
	var epoch string
	for i := uint64(1); i <= 5; i++ {
		pub := &broker.Publication{Data: []byte(fmt.Sprint(i)), Info: info}
		pos, repeated, err := e.b.Publish(ctx, ch, pub, keep(10, time.Hour))
		if err != nil || repeated {
			t.Fatalf("publish %d: %v (repeated %v)", i, err, repeated)
		}
		if pos.Offset != i {
			t.Fatalf("publish %d got offset %d", i, pos.Offset)
		}
		if pos.Epoch == "" || (epoch != "" && pos.Epoch != epoch) {
			t.Fatalf("publish %d: epoch %q after %q", i, pos.Epoch, epoch)
		}
		epoch = pos.Epoch
	}
	pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{})
	if err != nil || pos != (broker.StreamPosition{Offset: 5, Epoch: epoch}) || !eq(offsets(pubs), seq(1, 5)...) {
		t.Fatalf("history: %s", describe(pubs, pos, err))
	}
	// What history returns is what was published, publisher included.
	p := pubs[2]
	if string(p.Data) != "3" || p.Info == nil || p.Info.User != "alice" || p.Info.Client != "c1" ||
		!bytes.Equal(p.Info.ConnInfo, info.ConnInfo) {
		t.Fatalf("publication 3 came back as %+v (info %+v)", p, p.Info)
	}
	// The broker stamps Time when the publisher left it zero, and keeps it
	// otherwise.
	if d := time.Since(time.UnixMilli(p.Time)); d < -time.Minute || d > time.Minute {
		t.Fatalf("publication time %d is %v from now", p.Time, d)
	}
	stamped := &broker.Publication{Data: []byte("t"), Time: 1234567890123}
	if _, _, err := e.b.Publish(ctx, ch, stamped, keep(10, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if pubs, _, _ := history(t, e.b, ch, broker.HistoryOptions{Limit: 1, Reverse: true}); len(pubs) != 1 || pubs[0].Time != 1234567890123 {
		t.Fatalf("publisher's time not kept: %+v", pubs)
	}
}

func testSizeTrim(t *testing.T, e *env) {
	ch := e.ch("trim")
	for i := 0; i < 7; i++ {
		publish(t, e.b, ch, "x", keep(3, time.Hour))
	}
	pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{})
	if err != nil || pos.Offset != 7 || !eq(offsets(pubs), 5, 6, 7) {
		t.Fatalf("size 3 after 7 publishes: %s", describe(pubs, pos, err))
	}
}

func testTTLExpiry(t *testing.T, e *env) {
	ch := e.ch("ttl")
	first := publish(t, e.b, ch, "old", keep(10, shortTTL))
	eventually(t, func() string {
		pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{})
		if len(pubs) != 0 {
			return "publication did not expire: " + describe(pubs, pos, err)
		}
		// The publication is gone but the position is not: offsets must
		// not restart while the stream's metadata lives.
		if err != nil || pos != first {
			t.Fatalf("after expiry: %s, want position %+v", describe(pubs, pos, err), first)
		}
		return ""
	})
	// A client that saw offset 1 missed nothing; one that saw nothing
	// missed a publication that is gone.
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: &first}); err != nil || len(pubs) != 0 {
		t.Fatalf("since the top after expiry: %s", describe(pubs, pos, err))
	}
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: since(0, first.Epoch)}); !errors.Is(err, broker.ErrUnrecoverable) || len(pubs) != 0 {
		t.Fatalf("since 0 after expiry: %s, want ErrUnrecoverable", describe(pubs, pos, err))
	}
	if pos := publish(t, e.b, ch, "new", keep(10, shortTTL)); pos.Offset != 2 || pos.Epoch != first.Epoch {
		t.Fatalf("publish after expiry: %+v, want offset 2 in epoch %s", pos, first.Epoch)
	}
}

func testHistoryQueries(t *testing.T, e *env) {
	ch := e.ch("queries")
	var epoch string
	for i := 0; i < 6; i++ {
		epoch = publish(t, e.b, ch, "x", keep(10, time.Hour)).Epoch
	}
	cases := []struct {
		name string
		opts broker.HistoryOptions
		want []uint64
	}{
		{"all", broker.HistoryOptions{}, seq(1, 6)},
		{"limit", broker.HistoryOptions{Limit: 2}, []uint64{1, 2}},
		{"limit beyond retained", broker.HistoryOptions{Limit: 100}, seq(1, 6)},
		{"reverse", broker.HistoryOptions{Reverse: true}, []uint64{6, 5, 4, 3, 2, 1}},
		{"reverse limit", broker.HistoryOptions{Limit: 2, Reverse: true}, []uint64{6, 5}},
		{"negative limit", broker.HistoryOptions{Limit: -1}, nil},
		{"since", broker.HistoryOptions{Since: since(3, epoch)}, []uint64{4, 5, 6}},
		{"since 0", broker.HistoryOptions{Since: since(0, epoch)}, seq(1, 6)},
		{"since limit", broker.HistoryOptions{Since: since(1, epoch), Limit: 2}, []uint64{2, 3}},
		{"since reverse", broker.HistoryOptions{Since: since(3, epoch), Reverse: true}, []uint64{6, 5, 4}},
		{"since reverse limit", broker.HistoryOptions{Since: since(2, epoch), Limit: 2, Reverse: true}, []uint64{6, 5}},
		{"since negative limit", broker.HistoryOptions{Since: since(2, epoch), Limit: -1}, nil},
		{"since top", broker.HistoryOptions{Since: since(6, epoch)}, nil},
	}
	for _, tc := range cases {
		pubs, pos, err := history(t, e.b, ch, tc.opts)
		if err != nil || pos != (broker.StreamPosition{Offset: 6, Epoch: epoch}) || !eq(offsets(pubs), tc.want...) {
			t.Errorf("%s: %s, want offsets %v", tc.name, describe(pubs, pos, err), tc.want)
		}
	}
}

func testUnrecoverable(t *testing.T, e *env) {
	ch := e.ch("unrecoverable")
	var top broker.StreamPosition
	for i := 0; i < 5; i++ {
		top = publish(t, e.b, ch, "x", keep(3, time.Hour))
	}
	epoch := top.Epoch // retained: 3, 4, 5
	cases := []struct {
		name   string
		opts   broker.HistoryOptions
		want   []uint64
		broken bool
	}{
		{"trimmed gap", broker.HistoryOptions{Since: since(1, epoch)}, []uint64{3, 4, 5}, true},
		{"trimmed gap, limit", broker.HistoryOptions{Since: since(0, epoch), Limit: 2}, []uint64{3, 4}, true},
		{"trimmed gap, reverse limit", broker.HistoryOptions{Since: since(1, epoch), Limit: 1, Reverse: true}, []uint64{5}, true},
		{"trimmed gap, negative limit", broker.HistoryOptions{Since: since(1, epoch), Limit: -1}, nil, true},
		{"just recoverable", broker.HistoryOptions{Since: since(2, epoch)}, []uint64{3, 4, 5}, false},
		{"other epoch", broker.HistoryOptions{Since: since(4, "other")}, []uint64{3, 4, 5}, true},
		{"other epoch, limit", broker.HistoryOptions{Since: since(4, "other"), Limit: 2}, []uint64{3, 4}, true},
		{"other epoch, reverse limit", broker.HistoryOptions{Since: since(4, "other"), Limit: 2, Reverse: true}, []uint64{5, 4}, true},
		{"other epoch at the top", broker.HistoryOptions{Since: since(5, "other")}, []uint64{3, 4, 5}, true},
		{"no epoch", broker.HistoryOptions{Since: since(0, "")}, []uint64{3, 4, 5}, true},
		{"offset from the future", broker.HistoryOptions{Since: since(9, epoch)}, []uint64{3, 4, 5}, true},
	}
	for _, tc := range cases {
		pubs, pos, err := history(t, e.b, ch, tc.opts)
		if errors.Is(err, broker.ErrUnrecoverable) != tc.broken || pos != top || !eq(offsets(pubs), tc.want...) {
			t.Errorf("%s: %s, want offsets %v and unrecoverable %v", tc.name, describe(pubs, pos, err), tc.want, tc.broken)
		}
	}
}

func testEmptyChannelEpoch(t *testing.T, e *env) {
	ch := e.ch("empty")
	pubs, p1, err := history(t, e.b, ch, broker.HistoryOptions{})
	if err != nil || len(pubs) != 0 || p1.Offset != 0 || p1.Epoch == "" {
		t.Fatalf("never published: %s", describe(pubs, p1, err))
	}
	if _, p2, err := history(t, e.b, ch, broker.HistoryOptions{Limit: -1}); err != nil || p2 != p1 {
		t.Fatalf("read again: %+v (%v), want %+v", p2, err, p1)
	}
	// A client that subscribed to the empty channel recovers from {0, epoch}.
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: &p1}); err != nil || len(pubs) != 0 || pos != p1 {
		t.Fatalf("since the empty position: %s", describe(pubs, pos, err))
	}
	if pos := publish(t, e.b, ch, "x", keep(10, time.Hour)); pos.Epoch != p1.Epoch || pos.Offset != 1 {
		t.Fatalf("first publish: %+v, want offset 1 in epoch %s", pos, p1.Epoch)
	}
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: &p1}); err != nil || !eq(offsets(pubs), 1) {
		t.Fatalf("recover from the empty position: %s", describe(pubs, pos, err))
	}
}

func testRemoveHistory(t *testing.T, e *env) {
	ch := e.ch("remove")
	publish(t, e.b, ch, "x", keep(10, time.Hour))
	old := publish(t, e.b, ch, "y", keep(10, time.Hour))
	if err := e.b.RemoveHistory(ctx, ch); err != nil {
		t.Fatal(err)
	}
	pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{})
	if err != nil || len(pubs) != 0 || pos.Offset != 0 || pos.Epoch == "" || pos.Epoch == old.Epoch {
		t.Fatalf("after remove: %s (old %+v)", describe(pubs, pos, err), old)
	}
	if pubs, p, err := history(t, e.b, ch, broker.HistoryOptions{Since: &old}); !errors.Is(err, broker.ErrUnrecoverable) {
		t.Fatalf("since the removed stream's position: %s, want ErrUnrecoverable", describe(pubs, p, err))
	}
	if p := publish(t, e.b, ch, "z", keep(10, time.Hour)); p.Offset != 1 || p.Epoch != pos.Epoch {
		t.Fatalf("first publish after remove: %+v, want offset 1 in epoch %s", p, pos.Epoch)
	}
	if err := e.b.RemoveHistory(ctx, e.ch("never")); err != nil {
		t.Fatalf("removing a missing stream: %v", err)
	}
}

func testNoHistory(t *testing.T, e *env) {
	ch := e.ch("nohistory")
	if err := e.b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []broker.PublishOptions{{}, keep(0, time.Hour), keep(10, 0)} {
		pos, repeated, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("live")}, opts)
		if err != nil || repeated || pos != (broker.StreamPosition{}) {
			t.Fatalf("publish with %+v: %+v (repeated %v, err %v), want the zero position", opts.Stream, pos, repeated, err)
		}
	}
	got, err := e.rec.Publications(ch, 3, wait)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if string(d.Pub.Data) != "live" || d.Pub.Offset != 0 || d.Pos != (broker.StreamPosition{}) || d.Pub.Time == 0 {
			t.Fatalf("delivery %+v at %+v", d.Pub, d.Pos)
		}
	}
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{}); err != nil || len(pubs) != 0 || pos.Offset != 0 {
		t.Fatalf("history kept live-only publications: %s", describe(pubs, pos, err))
	}
	// A live-only publish leaves an existing stream alone.
	kept := publish(t, e.b, ch, "kept", keep(10, time.Hour))
	publish(t, e.b, ch, "live", broker.PublishOptions{})
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{}); err != nil || pos != kept || !eq(offsets(pubs), 1) {
		t.Fatalf("stream after a live-only publish: %s, want %+v", describe(pubs, pos, err), kept)
	}
}
