// Package consumetest is what the consumers' tests share: a Herald test
// server whose engine can be made to fail publications, a subscriber that
// checks what clients receive, and an Observer that counts.
package consumetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/internal/heraldtest"
)

// ErrDown is what a FlakyBroker's publications fail with while it is down.
var ErrDown = errors.New("consumetest: engine down")

// FlakyBroker is a broker whose publications fail while it is down, as
// Herald's engine does when Redis or NATS is unreachable.
type FlakyBroker struct {
	broker.Broker
	down atomic.Bool
	// Attempts counts channel publications tried, failed ones included.
	Attempts atomic.Int64
}

// SetDown makes publications fail (true) or pass (false).
func (b *FlakyBroker) SetDown(down bool) { b.down.Store(down) }

// Publish implements broker.PubSub.
func (b *FlakyBroker) Publish(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	b.Attempts.Add(1)
	if b.down.Load() {
		return broker.StreamPosition{}, false, ErrDown
	}
	return b.Broker.Publish(ctx, channel, pub, opts)
}

// Start starts a Herald test server on a memory engine wrapped in a
// FlakyBroker, with heraldtest's default namespaces ("chat" keeps history).
func Start(t testing.TB) (*heraldtest.Server, *FlakyBroker) {
	t.Helper()
	mb := memory.New(memory.Options{})
	fb := &FlakyBroker{Broker: mb}
	opts := heraldtest.Options{Broker: fb}
	opts.Hub.Anonymous = true
	srv := heraldtest.Start(t, opts)
	t.Cleanup(func() { mb.Close() }) // after the server stops (cleanups run last first)
	return srv, fb
}

// Subscriber is a client connection subscribed to channels.
type Subscriber struct {
	t testing.TB
	c *heraldtest.Client
}

// Subscribe connects an anonymous client and subscribes it to channels.
func Subscribe(t testing.TB, srv *heraldtest.Server, channels ...string) *Subscriber {
	t.Helper()
	c, _ := srv.Connect(t, "")
	for _, ch := range channels {
		if r := c.Call(map[string]any{"type": "subscribe", "channel": ch}); r.ErrorCode() != 0 {
			t.Fatalf("subscribe %s: %v", ch, r)
		}
	}
	return &Subscriber{t: t, c: c}
}

// Expect waits for want on channel, in that order, each message's data
// being the JSON string want[i], and then for the end marker: nothing may
// arrive between them, so a message delivered twice or out of order, or
// one too many, fails the test. The producer publishes the marker (data
// "end") after want on the same channel, in the same partition.
func (s *Subscriber) Expect(channel string, want []string) {
	s.t.Helper()
	got := s.c.Messages(channel, len(want)+1)
	for i, m := range got {
		w := "end"
		if i < len(want) {
			w = want[i]
		}
		if d, _ := m["data"].(string); d != w {
			s.t.Fatalf("%s: message %d is %v, want %q (got %d messages: %v)", channel, i, m["data"], w, len(got), datas(got))
		}
	}
}

func datas(ms []heraldtest.Msg) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = m["data"]
	}
	return out
}

// Seq returns n strings "<prefix>0" ... "<prefix>n-1".
func Seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// Observer counts what a consumer reports. It implements consume.Observer.
type Observer struct {
	published, failed, lag atomic.Int64
	mu                     sync.Mutex
	skipped                map[string]int
}

// Published implements consume.Observer.
func (o *Observer) Published() { o.published.Add(1) }

// Failed implements consume.Observer.
func (o *Observer) Failed() { o.failed.Add(1) }

// Lag implements consume.Observer.
func (o *Observer) Lag(n int64) { o.lag.Store(n) }

// Skipped implements consume.Observer.
func (o *Observer) Skipped(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.skipped == nil {
		o.skipped = make(map[string]int)
	}
	o.skipped[reason]++
}

// PublishedCount returns the publications counted.
func (o *Observer) PublishedCount() int64 { return o.published.Load() }

// FailedCount returns the failures counted.
func (o *Observer) FailedCount() int64 { return o.failed.Load() }

// LagValue returns the last lag reported.
func (o *Observer) LagValue() int64 { return o.lag.Load() }

// SkippedCount returns the records skipped for reason.
func (o *Observer) SkippedCount(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.skipped[reason]
}

// Run runs fn (a consumer's Run) on a goroutine until the returned stop
// is called, which cancels its context and waits for it to return (at most
// 15 s). stop may be called more than once; the test's end calls it.
func Run(t testing.TB, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("consumer: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("consumer did not stop within 15s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
