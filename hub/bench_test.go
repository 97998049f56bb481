package hub_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/protocol"
)

// benchObserver is the Observer of the benchmarks' hubs; nil for none.
var benchObserver hub.Observer

// sink is a Transport that discards frames and counts the messages in them.
type sink struct {
	messages *atomic.Int64
	enc      protocol.Encoding
}

func (s sink) Writes() hub.Writes { return hub.Writes{Frame: s.WriteFrame} }

func (s sink) WriteFrame(parts [][]byte) error {
	if s.enc.Separator() == nil {
		s.messages.Add(int64(len(parts)))
		return nil
	}
	// parts alternate message, separator, message...
	s.messages.Add(int64(len(parts)+1) / 2)
	return nil
}

func (s sink) Close(protocol.CloseCode, string) {}

// trySink is a sink that also writes without blocking, as the server's
// transport on a plain socket does: fan-outs then write from a few
// goroutines instead of a writer goroutine per subscriber.
type trySink struct{ sink }

func (s trySink) Writes() hub.Writes {
	return hub.Writes{
		Frame:    s.WriteFrame,
		TryFrame: func(parts [][]byte) (bool, error) { return true, s.WriteFrame(parts) },
		Flush:    func() error { return nil },
	}
}

// benchTry makes benchHub's clients trySinks.
var benchTry bool

// benchHub starts a hub with n anonymous clients subscribed to one channel,
// client i speaking encoding(i).
func benchHub(b *testing.B, n int, history bool, encoding func(i int) protocol.Encoding) (*hub.Hub, *atomic.Int64) {
	b.Helper()
	br := memory.New(memory.Options{})
	b.Cleanup(func() { br.Close() })
	ns := hub.Namespace{AllowPublish: hub.AccessAny}
	if history {
		ns.HistorySize, ns.HistoryTTL, ns.Recover = 100, 1<<40, true
	}
	h := hub.New(hub.Config{
		Anonymous:          true,
		Namespaces:         map[string]hub.Namespace{"": ns},
		WriteQueueMessages: 1 << 20,
		WriteQueueBytes:    1 << 30,
		// Out of the way: the benchmarks send commands far faster than
		// any client is allowed to.
		CommandRate:  1e12,
		CommandBurst: 1 << 30,
		Observer:     benchObserver,
	}, br, nil)
	if err := h.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	var delivered atomic.Int64
	for i := 0; i < n; i++ {
		enc := encoding(i)
		var t hub.Transport = sink{&delivered, enc}
		if benchTry {
			t = trySink{sink{&delivered, enc}}
		}
		c := h.NewClient(t, enc, hub.Peer{Remote: "bench"})
		frame, _ := enc.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
		frame = append(frame, enc.Separator()...)
		frame, _ = enc.AppendCommand(frame, &protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: "bench"})
		c.HandleFrame(frame)
	}
	// Wait for the replies to drain: two per client.
	for delivered.Load() < int64(2*n) {
	}
	delivered.Store(0)
	b.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = h.Shutdown(ctx)
	})
	return h, &delivered
}

// Subscriber encodings the fan-out benchmarks run with: all JSON, all
// Protobuf, and half of each (two encodings per publication).
var fanoutEncodings = []struct {
	name string
	of   func(i int) protocol.Encoding
}{
	{"json", func(int) protocol.Encoding { return protocol.JSON }},
	{"protobuf", func(int) protocol.Encoding { return protocol.Protobuf }},
	{"mixed", func(i int) protocol.Encoding { return protocol.Encoding(i % 2) }},
}

// BenchmarkFanout publishes to one channel with n subscribers and waits until
// every subscriber's writer has handed the message to its transport: the
// cost of one publication end to end, writers included.
func BenchmarkFanout(b *testing.B) {
	for _, e := range fanoutEncodings {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", e.name, n), func(b *testing.B) {
				benchFanout(b, n, e.of)
			})
		}
	}
}

// BenchmarkFanoutMetrics is BenchmarkFanout with Prometheus metrics on:
// its allocations per op must match BenchmarkFanout's.
func BenchmarkFanoutMetrics(b *testing.B) {
	benchObserver = metrics.New(prometheus.NewRegistry(), metrics.BuildInfo{})
	defer func() { benchObserver = nil }()
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("json/%d", n), func(b *testing.B) {
			benchFanout(b, n, fanoutEncodings[0].of)
		})
	}
}

// BenchmarkFanoutTry is BenchmarkFanout with transports that write without
// blocking, as plain sockets do in the server.
func BenchmarkFanoutTry(b *testing.B) {
	benchTry = true
	defer func() { benchTry = false }()
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("json/%d", n), func(b *testing.B) {
			benchFanout(b, n, fanoutEncodings[0].of)
		})
	}
}

func benchFanout(b *testing.B, n int, encoding func(int) protocol.Encoding) {
	h, delivered := benchHub(b, n, false, encoding)
	data := []byte(`{"text":"hello, world","n":42}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var want int64
	for b.Loop() {
		if _, err := h.Publish(ctx, "bench", data, ""); err != nil {
			b.Fatal(err)
		}
		want += int64(n)
		for delivered.Load() < want {
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
}

// BenchmarkFanoutEnqueue measures only the publishing side: encode once and
// queue the shared bytes to every subscriber, without waiting for writers.
// Its allocations per op must not grow with the subscriber count.
func BenchmarkFanoutEnqueue(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h, delivered := benchHub(b, n, true, fanoutEncodings[0].of)
			data := []byte(`{"text":"hello, world","n":42}`)
			ctx := context.Background()
			b.ReportAllocs()
			var want int64
			for b.Loop() {
				if _, err := h.Publish(ctx, "bench", data, ""); err != nil {
					b.Fatal(err)
				}
				want += int64(n)
				// Let writers catch up now and then so queues stay bounded,
				// outside the timed section.
				if want%(int64(n)*64) == 0 {
					b.StopTimer()
					for delivered.Load() < want {
					}
					b.StartTimer()
				}
			}
		})
	}
}

var _ = broker.StreamOptions{}
