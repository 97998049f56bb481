package consumetest

import (
	"slices"
	"testing"
	"time"
)

// Latencies collects end-to-end latencies and reports their p50 and p99
// as benchmark metrics.
type Latencies []time.Duration

// Report adds p50-µs and p99-µs to b's results.
func (l Latencies) Report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// Count waits for n message pushes on channel and returns when they are
// all in.
func (s *Subscriber) Count(channel string, n int) {
	s.t.Helper()
	s.c.Messages(channel, n)
}

// WaitPublished waits until obs has counted n publications, checking
// every millisecond, for at most a minute.
func WaitPublished(b *testing.B, obs *Observer, n int) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for obs.PublishedCount() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("published %d of %d within a minute", obs.PublishedCount(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
