package e2e_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// Cross-node fan-out: subscribers on one node, the publisher on another,
// the engine between them; the memory broker's single node (publisher and
// subscribers on it) is the baseline. Run with
//
//	go test -run '^$' -bench ClusterFanout -benchtime 5000x ./e2e
//
// Subscribers are SDK clients speaking Protobuf in this process, so the
// numbers include their decoding: compare engines with each other, within
// one run, rather than read them as the server's capacity.

const benchSubscribers = 50

// benchNodes returns the node the publisher uses and the node the
// subscribers use: two nodes on a shared engine, or one memory node.
func benchNodes(b *testing.B, e *engine) (pub, sub *ht.Server) {
	opts := ht.Options{Hub: hub.Config{WriteQueueMessages: 1 << 16, WriteQueueBytes: 64 << 20}}
	if e == nil {
		s := ht.Start(b, opts)
		return s, s
	}
	prefix := "herald-bench-" + randomID()
	opts.Broker = e.connect(b, prefix)
	pub = ht.Start(b, opts)
	opts.Broker = e.connect(b, prefix)
	return pub, ht.Start(b, opts)
}

// latencies collects publish-to-delivery times; the publisher puts its
// clock in the payload's first 8 bytes.
type latencies struct {
	mu  sync.Mutex
	d   []time.Duration
	got atomic.Int64
}

func (l *latencies) record(m client.Message) {
	if len(m.Data) >= 8 {
		sent := int64(binary.BigEndian.Uint64(m.Data))
		l.mu.Lock()
		l.d = append(l.d, time.Duration(time.Now().UnixNano()-sent))
		l.mu.Unlock()
	}
	l.got.Add(1)
}

func (l *latencies) percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[int(float64(len(l.d)-1)*p)]
}

func subscribeAll(b *testing.B, s *ht.Server, channel string, l *latencies) {
	ctx := context.Background()
	for i := 0; i < benchSubscribers; i++ {
		c, err := client.Dial(ctx, s.WSURL, client.Options{
			Token:    ht.Token(b, fmt.Sprintf("bench-%d", i), nil),
			Encoding: protocol.Protobuf,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if _, err := c.Subscribe(ctx, channel, client.SubscribeOptions{OnMessage: l.record}); err != nil {
			b.Fatal(err)
		}
	}
}

// payload is 64 bytes starting with the send time.
func payload() []byte {
	p := make([]byte, 64)
	binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
	return p
}

// BenchmarkClusterFanout publishes b.N messages of 64 bytes from 4
// goroutines as fast as the engine acknowledges them, to 50 subscribers on
// another node, and reports deliveries per second and the latency
// percentiles under that load.
func BenchmarkClusterFanout(b *testing.B) {
	for _, e := range benchEngines() {
		b.Run(e.name, func(b *testing.B) {
			pub, sub := benchNodes(b, e.e)
			var l latencies
			channel := "chat:bench"
			subscribeAll(b, sub, channel, &l)
			const publishers = 4
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range publishers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := pub.Hub.Publish(context.Background(), channel, payload(), ""); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			want := int64(b.N) * benchSubscribers
			deadline := time.Now().Add(time.Minute)
			for l.got.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // polled finely: the wait is part of the measured time
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if got := l.got.Load(); got != want {
				b.Fatalf("%d deliveries, want %d", got, want)
			}
			b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(l.percentile(0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(l.percentile(0.99).Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkClusterLatency publishes at a steady 200 messages a second, far
// below any engine's limit, so the percentiles are the engine's own path
// rather than queueing.
func BenchmarkClusterLatency(b *testing.B) {
	for _, e := range benchEngines() {
		b.Run(e.name, func(b *testing.B) {
			pub, sub := benchNodes(b, e.e)
			var l latencies
			channel := "chat:latency"
			subscribeAll(b, sub, channel, &l)
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				<-tick.C
				if _, err := pub.Hub.Publish(context.Background(), channel, payload(), ""); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(b.N) * benchSubscribers
			deadline := time.Now().Add(30 * time.Second)
			for l.got.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // polled finely: the wait is part of the measured time
			}
			b.StopTimer()
			b.ReportMetric(float64(l.percentile(0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(l.percentile(0.99).Microseconds()), "p99-µs")
		})
	}
}

type namedEngine struct {
	name string
	e    *engine // nil: one memory node
}

func benchEngines() []namedEngine {
	out := []namedEngine{{name: "memory"}}
	for i := range engines {
		out = append(out, namedEngine{name: engines[i].name, e: &engines[i]})
	}
	return out
}
