package memory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return memory.New(memory.Options{SweepInterval: 50 * time.Millisecond})
	})
}

// TestMetaTTLForgetsStream: a stream idle past its meta TTL is forgotten,
// and the next one has a new epoch.
func TestMetaTTLForgetsStream(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	b := memory.New(memory.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	defer b.Close()
	ctx := context.Background()
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Minute, MetaTTL: time.Hour}}
	first, _, _ := b.Publish(ctx, "c", &broker.Publication{Data: []byte("x")}, opts)
	now.Add(int64(30 * time.Minute))
	if _, pos, _ := b.History(ctx, "c", broker.HistoryOptions{MetaTTL: time.Hour}); pos.Epoch != first.Epoch || pos.Offset != 1 {
		t.Fatalf("within meta TTL: %v", pos)
	}
	now.Add(int64(2 * time.Hour))
	_, pos, _ := b.History(ctx, "c", broker.HistoryOptions{})
	if pos.Epoch == first.Epoch || pos.Offset != 0 {
		t.Fatalf("after meta TTL: %v (first %v)", pos, first)
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, history := range []bool{false, true} {
		b.Run(fmt.Sprint("history=", history), func(b *testing.B) {
			br := memory.New(memory.Options{})
			defer br.Close()
			br.Run(context.Background(), brokertest.NewRecorder())
			var opts broker.PublishOptions
			if history {
				opts.Stream = broker.StreamOptions{Size: 100, TTL: time.Hour}
			}
			data := []byte(`{"text":"hello"}`)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				br.Publish(ctx, "bench", &broker.Publication{Data: data}, opts)
			}
		})
	}
}

func BenchmarkPublishParallel(b *testing.B) {
	br := memory.New(memory.Options{})
	defer br.Close()
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 100, TTL: time.Hour}}
	data := []byte(`{"text":"hello"}`)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ch := fmt.Sprint("bench-", n.Add(1))
		for pb.Next() {
			br.Publish(context.Background(), ch, &broker.Publication{Data: data}, opts)
		}
	})
}
