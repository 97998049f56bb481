package brokertest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

func testInbox(t *testing.T, e *env) {
	user := e.ch("user")
	opts := broker.StreamOptions{Size: 3, TTL: time.Hour}
	_, empty, err := e.b.InboxHistory(ctx, user, broker.HistoryOptions{Limit: -1})
	if err != nil || empty.Offset != 0 || empty.Epoch == "" {
		t.Fatalf("empty inbox at %+v (%v)", empty, err)
	}
	from := &broker.ClientInfo{User: "sender", Client: "s1"}
	var pos broker.StreamPosition
	for i := 1; i <= 4; i++ {
		pos, err = e.b.Send(ctx, user, &broker.Publication{Data: []byte(fmt.Sprint(i)), Info: from}, opts)
		if err != nil || pos.Offset != uint64(i) || pos.Epoch != empty.Epoch {
			t.Fatalf("send %d: %+v (%v), want offset %d in epoch %s", i, pos, err, i, empty.Epoch)
		}
	}
	// Every node gets direct messages: no subscription needed.
	got, err := e.rec.Directs(user, 4, wait)
	if err != nil || len(got) != 4 {
		t.Fatalf("directs: %s", data(got, err))
	}
	for i, d := range got {
		if d.Pub.Offset != uint64(i+1) || d.Pos != (broker.StreamPosition{Offset: uint64(i + 1), Epoch: pos.Epoch}) ||
			string(d.Pub.Data) != fmt.Sprint(i+1) || d.Pub.Info == nil || d.Pub.Info.User != "sender" || d.Pub.Time == 0 {
			t.Fatalf("direct %d: %+v at %+v", i, d.Pub, d.Pos)
		}
	}
	read := func(opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
		t.Helper()
		pubs, p, err := e.b.InboxHistory(ctx, user, opts)
		if err != nil && !errors.Is(err, broker.ErrUnrecoverable) {
			t.Fatal(err)
		}
		return pubs, p, err
	}
	if pubs, p, err := read(broker.HistoryOptions{}); err != nil || p != pos || !eq(offsets(pubs), 2, 3, 4) {
		t.Fatalf("inbox: %s", describe(pubs, p, err))
	}
	if pubs, p, err := read(broker.HistoryOptions{Since: since(2, pos.Epoch)}); err != nil || !eq(offsets(pubs), 3, 4) {
		t.Fatalf("inbox since 2: %s", describe(pubs, p, err))
	}
	if pubs, p, err := read(broker.HistoryOptions{Since: since(1, pos.Epoch), Limit: 1, Reverse: true}); err != nil || !eq(offsets(pubs), 4) {
		t.Fatalf("inbox since 1, newest 1: %s", describe(pubs, p, err))
	}
	if pubs, p, err := read(broker.HistoryOptions{Since: &empty}); !errors.Is(err, broker.ErrUnrecoverable) || !eq(offsets(pubs), 2, 3, 4) {
		t.Fatalf("inbox since before the trimmed one: %s, want ErrUnrecoverable", describe(pubs, p, err))
	}
	if pubs, p, err := read(broker.HistoryOptions{Since: since(4, "other")}); !errors.Is(err, broker.ErrUnrecoverable) || p != pos || !eq(offsets(pubs), 2, 3, 4) {
		t.Fatalf("inbox since another epoch: %s, want ErrUnrecoverable", describe(pubs, p, err))
	}
	// Inboxes and channels are separate namespaces: a channel named like
	// the user has its own stream.
	if _, p, err := history(t, e.b, user, broker.HistoryOptions{}); err != nil || p.Offset != 0 {
		t.Fatalf("channel named like the user at %+v (%v)", p, err)
	}
}

func testInboxWithoutHistory(t *testing.T, e *env) {
	user := e.ch("user-live")
	for _, opts := range []broker.StreamOptions{{}, {Size: 10}, {TTL: time.Hour}} {
		pos, err := e.b.Send(ctx, user, &broker.Publication{Data: []byte("live")}, opts)
		if err != nil || pos != (broker.StreamPosition{}) {
			t.Fatalf("send with %+v: %+v (%v), want the zero position", opts, pos, err)
		}
	}
	got, err := e.rec.Directs(user, 3, wait)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if string(d.Pub.Data) != "live" || d.Pub.Offset != 0 || d.Pos != (broker.StreamPosition{}) {
			t.Fatalf("direct %+v at %+v", d.Pub, d.Pos)
		}
	}
	if pubs, p, err := e.b.InboxHistory(ctx, user, broker.HistoryOptions{}); err != nil || len(pubs) != 0 || p.Offset != 0 {
		t.Fatalf("inbox kept live-only messages: %s", describe(pubs, p, err))
	}
}
