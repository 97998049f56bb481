package memory_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
)

// TestRemoveHistoryFreesAtOnce: a removed stream's publications are
// garbage as soon as RemoveHistory returns, not when the stream's
// expiry timer fires a day later. So are a replaced stream's.
func TestRemoveHistoryFreesAtOnce(t *testing.T) {
	c := newClock()
	b := newBroker(t, memory.Options{Now: c.now})
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	publishWeak := func(ch string) weak.Pointer[byte] {
		data := make([]byte, 1<<20)
		if _, _, err := b.Publish(ctx, ch, &broker.Publication{Data: data}, opts); err != nil {
			t.Fatal(err)
		}
		return weak.Make(&data[0])
	}
	removed := publishWeak("removed")
	if err := b.RemoveHistory(ctx, "removed"); err != nil {
		t.Fatal(err)
	}
	expired := publishWeak("expired")
	c.advance(25 * time.Hour) // past the default meta TTL; not swept
	if _, pos, _ := b.History(ctx, "expired", broker.HistoryOptions{}); pos.Offset != 0 {
		t.Fatalf("the expired stream was not replaced: %+v", pos)
	}
	kept := publishWeak("kept")
	runtime.GC()
	if removed.Value() != nil {
		t.Error("a removed stream's publication is still reachable")
	}
	if expired.Value() != nil {
		t.Error("a replaced stream's publication is still reachable")
	}
	if kept.Value() == nil {
		t.Fatal("a retained publication was freed")
	}
	if u := b.Usage(); u.Streams != 2 || u.RetainedBytes != 1<<20+96 {
		t.Fatalf("usage %+v, want 2 streams holding one publication", u)
	}
}

// TestEvictOldestFirst: past MaxStreams the stream appended to least
// recently goes, channel or inbox, and comes back with a new epoch, so a
// client behind in it cannot recover.
func TestEvictOldestFirst(t *testing.T) {
	c := newClock()
	b := newBroker(t, memory.Options{Now: c.now, MaxStreams: 3})
	opts := broker.StreamOptions{Size: 10, TTL: time.Hour}
	step := func() { c.advance(time.Second) }
	a := publish(t, b, "a", opts)
	step()
	old, err := b.Send(ctx, "inbox", &broker.Publication{Data: []byte("x")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	step()
	publish(t, b, "c", opts)
	step()
	publish(t, b, "a", opts) // a is now the newest
	step()
	publish(t, b, "d", opts) // one stream too many: the inbox goes
	if u := b.Usage(); u.Streams != 3 || u.Evicted != 1 {
		t.Fatalf("usage %+v, want 3 streams after 1 eviction", u)
	}
	pubs, pos, err := b.InboxHistory(ctx, "inbox", broker.HistoryOptions{Since: &old})
	if !errors.Is(err, broker.ErrUnrecoverable) || len(pubs) != 0 || pos.Offset != 0 || pos.Epoch == old.Epoch {
		t.Fatalf("the evicted inbox: %d messages at %+v (%v), want none in a new epoch and ErrUnrecoverable", len(pubs), pos, err)
	}
	// That read made the inbox again, and evicted c, the oldest now.
	if _, pos, err := b.History(ctx, "a", broker.HistoryOptions{Since: &a}); err != nil || pos.Epoch != a.Epoch || pos.Offset != 2 {
		t.Fatalf("stream a: %+v (%v)", pos, err)
	}
	if u := b.Usage(); u.Streams != 3 || u.Evicted != 2 {
		t.Fatalf("usage %+v, want 3 streams after 2 evictions", u)
	}
}

// TestRetainedBytesCap: a flood of messages to made-up users never holds
// more than MaxRetainedBytes; the newest inboxes stay.
func TestRetainedBytesCap(t *testing.T) {
	const capBytes, msg = 1 << 20, 10 << 10
	b := newBroker(t, memory.Options{MaxRetainedBytes: capBytes})
	opts := broker.StreamOptions{Size: 100, TTL: time.Hour}
	var last broker.StreamPosition
	for i := range 2000 {
		pos, err := b.Send(ctx, fmt.Sprint("made-up-", i), &broker.Publication{Data: make([]byte, msg)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		last = pos
		if u := b.Usage(); u.RetainedBytes > capBytes {
			t.Fatalf("after %d sends: %+v, over the cap of %d", i+1, u, capBytes)
		}
	}
	u := b.Usage()
	if kept := int64(capBytes / (msg + 96)); u.Streams != kept || u.Evicted != 2000-kept {
		t.Fatalf("usage %+v, want %d inboxes kept", u, kept)
	}
	if pubs, pos, err := b.InboxHistory(ctx, "made-up-1999", broker.HistoryOptions{}); err != nil || len(pubs) != 1 || pos != last {
		t.Fatalf("the newest inbox: %d messages at %+v (%v)", len(pubs), pos, err)
	}
}

// TestCapsOff: -1 turns both caps off.
func TestCapsOff(t *testing.T) {
	b := newBroker(t, memory.Options{MaxRetainedBytes: -1, MaxStreams: -1})
	for i := range 100 {
		publish(t, b, fmt.Sprint("c", i), broker.StreamOptions{Size: 1, TTL: time.Hour})
	}
	if u := b.Usage(); u.Streams != 100 || u.Evicted != 0 {
		t.Fatalf("usage %+v", u)
	}
}
