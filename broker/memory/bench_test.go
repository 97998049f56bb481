package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/memory"
)

// The benchmarks here complete memory_test.go's BenchmarkPublish,
// BenchmarkPublishParallel and BenchmarkHistorySince along the axes those
// fix: payload size, one hot channel, and how much a client missed.

// benchStream keeps 100 publications for an hour: a typical channel with
// history.
var benchStream = broker.StreamOptions{Size: 100, TTL: time.Hour}

func benchMemory(b *testing.B) *memory.Broker {
	b.Helper()
	br := memory.New(memory.Options{})
	b.Cleanup(func() { br.Close() })
	if err := br.Run(ctx, nopHandler{}); err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkPublishSize is BenchmarkPublish by payload size: allocations and
// time per publish must not grow with the size, since the broker keeps and
// delivers the caller's bytes without copying them.
func BenchmarkPublishSize(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts broker.PublishOptions
	}{
		{"live", broker.PublishOptions{}},
		{"history", broker.PublishOptions{Stream: benchStream}},
	} {
		for _, size := range []int{128, 4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", mode.name, size), func(b *testing.B) {
				br := benchMemory(b)
				if err := br.Subscribe(ctx, "bench"); err != nil {
					b.Fatal(err)
				}
				data := make([]byte, size)
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := br.Publish(ctx, "bench", &broker.Publication{Data: data}, mode.opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPublishHotChannel is many publishers on one channel with
// history, where every publish contends for the same stream: the worst case
// for a sharded broker, compared with BenchmarkPublishParallel's distinct
// channels.
func BenchmarkPublishHotChannel(b *testing.B) {
	br := benchMemory(b)
	if err := br.Subscribe(ctx, "hot"); err != nil {
		b.Fatal(err)
	}
	opts := broker.PublishOptions{Stream: benchStream}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := br.Publish(ctx, "hot", &broker.Publication{Data: benchData}, opts); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHistoryMissed is the broker's half of recovery by how much the
// client missed from a full 100-entry stream: the cost should be linear in
// what is returned, not in what is retained.
func BenchmarkHistoryMissed(b *testing.B) {
	for _, missed := range []int{1, 10, 100} {
		b.Run(fmt.Sprint(missed), func(b *testing.B) {
			br := benchMemory(b)
			var pos broker.StreamPosition
			for range benchStream.Size {
				p, _, err := br.Publish(ctx, "bench", &broker.Publication{Data: benchData}, broker.PublishOptions{Stream: benchStream})
				if err != nil {
					b.Fatal(err)
				}
				pos = p
			}
			since := &broker.StreamPosition{Offset: pos.Offset - uint64(missed), Epoch: pos.Epoch}
			b.ReportAllocs()
			for b.Loop() {
				pubs, _, err := br.History(ctx, "bench", broker.HistoryOptions{Since: since})
				if err != nil || len(pubs) != missed {
					b.Fatalf("history: %d publications, %v", len(pubs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*missed), "ns/publication")
		})
	}
}

// BenchmarkHistoryPage is one page of a catch-up from far below the top and
// from near it (see brokertest.BenchmarkHistoryPage).
func BenchmarkHistoryPage(b *testing.B) {
	brokertest.BenchmarkHistoryPage(b, func(*testing.B) broker.Broker { return memory.New(memory.Options{}) }, 20000, 300)
}
