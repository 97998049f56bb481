package redis_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
)

func benchBroker(b *testing.B, h broker.Handler) *redis.Broker {
	addr := services.Redis(b)
	br := newBroker(b, redis.Options{Addrs: []string{addr}, Prefix: sharedPrefix(b, addr)})
	if err := br.Run(ctx, h); err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkPublish is one publish through the shared Redis, from parallel
// publishers on one channel, with and without history.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts broker.PublishOptions
	}{
		{"history", broker.PublishOptions{Stream: broker.StreamOptions{Size: 100, TTL: time.Minute}}},
		{"live", broker.PublishOptions{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			br := benchBroker(b, brokertest.NewRecorder())
			data := make([]byte, 128)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := br.Publish(ctx, "bench", &broker.Publication{Data: data}, bc.opts); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// signal is a Handler that reports each publication on a Go channel.
type signal struct {
	*brokertest.Recorder
	got chan struct{}
}

func (s *signal) HandlePublication(string, *broker.Publication, broker.StreamPosition) {
	s.got <- struct{}{}
}

// BenchmarkRoundTrip is publish → delivery back to the same node through
// the shared Redis, one at a time: the latency a message adds.
func BenchmarkRoundTrip(b *testing.B) {
	h := &signal{Recorder: brokertest.NewRecorder(), got: make(chan struct{}, 1)}
	br := benchBroker(b, h)
	if err := br.Subscribe(ctx, "bench-rt"); err != nil {
		b.Fatal(err)
	}
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 100, TTL: time.Minute}}
	data := make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := br.Publish(ctx, "bench-rt", &broker.Publication{Data: data}, opts); err != nil {
			b.Fatal(err)
		}
		<-h.got
	}
}

// BenchmarkHistoryPage is one page of a catch-up from far below the top and
// from near it (see brokertest.BenchmarkHistoryPage).
func BenchmarkHistoryPage(b *testing.B) {
	brokertest.BenchmarkHistoryPage(b, func(b *testing.B) broker.Broker {
		addr := services.Redis(b)
		return newBroker(b, redis.Options{Addrs: []string{addr}, Prefix: sharedPrefix(b, addr)})
	}, 20000, 300)
}
