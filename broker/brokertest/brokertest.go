// Package brokertest is the conformance suite every Herald broker must
// pass: the memory broker, Redis and NATS alike. A broker that passes it
// gives the hub what the protocol promises: offsets without gaps or repeats,
// epochs that change when continuity is lost, delivery in offset order, and
// exact recovery when history and live delivery are merged.
//
// Each subtest creates its own broker, runs in parallel with the others and
// uses channel and user names unique to the run, so brokers that share a
// server (Redis, NATS) can run it side by side, even from several processes.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

// wait bounds every wait for an asynchronous delivery or expiry; generous,
// so a loaded CI machine does not fail the suite, and only reached when
// something is broken.
const wait = 20 * time.Second

// shortTTL is the lifetime used where the suite watches something expire.
const shortTTL = 200 * time.Millisecond

// Run runs the whole suite against brokers made by newBroker, one per
// subtest. Run calls the broker's Run with a Recorder and closes it when the
// subtest ends; newBroker should only construct it.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"OffsetsAndEpoch", testOffsetsAndEpoch},
		{"SizeTrim", testSizeTrim},
		{"TTLExpiry", testTTLExpiry},
		{"HistoryQueries", testHistoryQueries},
		{"HistoryPaging", testHistoryPaging},
		{"HistoryPagingExpired", testHistoryPagingExpired},
		{"Unrecoverable", testUnrecoverable},
		{"EmptyChannelHasStableEpoch", testEmptyChannelEpoch},
		{"RemoveHistoryChangesEpoch", testRemoveHistory},
		{"NoHistory", testNoHistory},
		{"SubscribeUnsubscribe", testSubscribeUnsubscribe},
		{"OrderUnderConcurrentPublishers", testConcurrentOrder},
		{"Idempotency", testIdempotency},
		{"IdempotencyExpiry", testIdempotencyExpiry},
		{"Presence", testPresence},
		{"PresenceExpiry", testPresenceExpiry},
		{"PresenceExpiryLeave", testPresenceExpiryLeave},
		{"PresenceRemoveLeave", testPresenceRemoveLeave},
		{"JoinLeave", testJoinLeave},
		{"Inbox", testInbox},
		{"InboxWithoutHistory", testInboxWithoutHistory},
		{"Control", testControl},
		{"RecoveryRace", testRecoveryRace},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t)
			t.Cleanup(func() { _ = b.Close() })
			rec := NewRecorder()
			if err := b.Run(context.Background(), rec); err != nil {
				t.Fatalf("Run: %v", err)
			}
			tc.fn(t, &env{b: b, rec: rec, prefix: "brokertest-" + randomHex() + "-"})
		})
	}
}

// env is what a subtest works with.
type env struct {
	b      broker.Broker
	rec    *Recorder
	prefix string
}

// ch returns a channel (or user) name unique to this subtest's run.
func (e *env) ch(name string) string { return e.prefix + name }

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var ctx = context.Background()

func keep(size int, ttl time.Duration) broker.PublishOptions {
	return broker.PublishOptions{Stream: broker.StreamOptions{Size: size, TTL: ttl}}
}

func publish(t *testing.T, b broker.Broker, ch, data string, opts broker.PublishOptions) broker.StreamPosition {
	t.Helper()
	pos, repeated, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte(data)}, opts)
	if err != nil || repeated {
		t.Fatalf("publish to %s: %v (repeated %v)", ch, err, repeated)
	}
	return pos
}

// history reads a channel, failing the test on any error but
// ErrUnrecoverable, which it returns.
func history(t *testing.T, b broker.Broker, ch string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	t.Helper()
	pubs, pos, err := b.History(ctx, ch, opts)
	if err != nil && !errors.Is(err, broker.ErrUnrecoverable) {
		t.Fatalf("history of %s: %v", ch, err)
	}
	return pubs, pos, err
}

func since(offset uint64, epoch string) *broker.StreamPosition {
	return &broker.StreamPosition{Offset: offset, Epoch: epoch}
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

// seq returns from, from+1, ..., to.
func seq(from, to uint64) []uint64 {
	var out []uint64
	for o := from; o <= to; o++ {
		out = append(out, o)
	}
	return out
}

// eventually polls cond until it reports "" (done) or wait passes, then
// fails with cond's last complaint. Only expiry tests use it: they have
// nothing to wait on but the clock.
func eventually(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testClosed(t *testing.T, e *env) {
	if err := e.b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ch, info := e.ch("closed"), &broker.ClientInfo{User: "u", Client: "c"}
	pub := func() *broker.Publication { return &broker.Publication{Data: []byte("x")} }
	calls := map[string]func() error{
		"Run":            func() error { return e.b.Run(ctx, NewRecorder()) },
		"Subscribe":      func() error { return e.b.Subscribe(ctx, ch) },
		"Unsubscribe":    func() error { return e.b.Unsubscribe(ctx, ch) },
		"Publish":        func() error { _, _, err := e.b.Publish(ctx, ch, pub(), keep(10, time.Hour)); return err },
		"PublishJoin":    func() error { return e.b.PublishJoin(ctx, ch, info) },
		"PublishLeave":   func() error { return e.b.PublishLeave(ctx, ch, info) },
		"PublishControl": func() error { return e.b.PublishControl(ctx, []byte("x")) },
		"History":        func() error { _, _, err := e.b.History(ctx, ch, broker.HistoryOptions{}); return err },
		"RemoveHistory":  func() error { return e.b.RemoveHistory(ctx, ch) },
		"AddPresence":    func() error { return e.b.AddPresence(ctx, ch, info, time.Minute) },
		"RemovePresence": func() error { return e.b.RemovePresence(ctx, ch, info, true) },
		"Presence":       func() error { _, err := e.b.Presence(ctx, ch); return err },
		"PresenceStats":  func() error { _, err := e.b.PresenceStats(ctx, ch); return err },
		"Send": func() error {
			_, err := e.b.Send(ctx, e.ch("user"), pub(), broker.StreamOptions{Size: 10, TTL: time.Hour})
			return err
		},
		"InboxHistory": func() error { _, _, err := e.b.InboxHistory(ctx, e.ch("user"), broker.HistoryOptions{}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, broker.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if got, _ := e.rec.Publications(ch, 0, 0); len(got) != 0 {
		t.Errorf("delivered after Close: %d publications", len(got))
	}
}

// describe formats a history result for failure messages.
func describe(pubs []*broker.Publication, pos broker.StreamPosition, err error) string {
	return fmt.Sprintf("offsets %v, position %+v, err %v", offsets(pubs), pos, err)
}
