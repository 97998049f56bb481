package nats

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/internal/services"
)

func benchBroker(b *testing.B) *Broker {
	url := services.NATS(b)
	prefix := "herald-bench-" + randomHex()
	cleanupPrefix(b, url, prefix)
	return newBroker(b, testOptions(url, prefix))
}

// BenchmarkPublish measures one node publishing to one channel, with
// history (a compare-and-set append to JetStream, then the live publish)
// and without (the live publish only).
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts broker.PublishOptions
	}{
		{"history", keep(100)},
		{"live", broker.PublishOptions{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			br := benchBroker(b)
			ch := "bench-" + randomHex()
			data := make([]byte, 128)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := br.Publish(ctx, ch, &broker.Publication{Data: data}, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublishParallel: many goroutines of one node on distinct
// channels, the hub's usual load.
func BenchmarkPublishParallel(b *testing.B) {
	br := benchBroker(b)
	data := make([]byte, 128)
	b.RunParallel(func(pb *testing.PB) {
		ch := "bench-" + randomHex()
		for pb.Next() {
			if _, _, err := br.Publish(ctx, ch, &broker.Publication{Data: data}, keep(100)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRoundTrip measures a publish on one node until its delivery to
// the Handler of another.
func BenchmarkRoundTrip(b *testing.B) {
	url := services.NATS(b)
	prefix := "herald-bench-" + randomHex()
	cleanupPrefix(b, url, prefix)
	pub := newBroker(b, testOptions(url, prefix))
	sub := newBroker(b, testOptions(url, prefix))
	rec := brokertest.NewRecorder()
	if err := sub.Run(ctx, rec); err != nil {
		b.Fatal(err)
	}
	ch := "rt-" + randomHex()
	if err := sub.Subscribe(ctx, ch); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 128)
	n := 0
	for b.Loop() {
		if _, _, err := pub.Publish(ctx, ch, &broker.Publication{Data: data}, keep(100)); err != nil {
			b.Fatal(err)
		}
		n++
		if _, err := rec.Publications(ch, n, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistoryPage is one page of a catch-up from far below the top and
// from near it (see brokertest.BenchmarkHistoryPage).
func BenchmarkHistoryPage(b *testing.B) {
	brokertest.BenchmarkHistoryPage(b, func(b *testing.B) broker.Broker { return benchBroker(b) }, 5000, 300)
}
