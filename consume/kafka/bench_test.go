package kafka_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/consume"
	"github.com/heraldhq/herald/consume/consumetest"
	"github.com/heraldhq/herald/consume/kafka"
)

// BenchmarkThroughput: records a consumer publishes per second into a hub
// on the memory engine, from a backlog produced beforehand (three
// channels, subscribed to), its group join included.
func BenchmarkThroughput(b *testing.B) {
	c := clusterB(b)
	srv, _ := consumetest.Start(b)
	consumetest.Subscribe(b, srv, "chat:0", "chat:1", "chat:2")
	p := producerB(b, c)
	recs := make([]*kgo.Record, 0, b.N)
	for i := range b.N {
		ch := fmt.Sprintf("chat:%d", i%3)
		v, _ := json.Marshal(map[string]any{"channel": ch, "data": map[string]int{"i": i}})
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(ch), Value: v})
	}
	if err := p.ProduceSync(b.Context(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	obs := &consumetest.Observer{}
	startB(b, c, srv.Hub, obs)
	consumetest.WaitPublished(b, obs, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLatency: from producing a record (ProduceSync returning) to a
// subscriber receiving it, one record at a time.
func BenchmarkLatency(b *testing.B) {
	c := clusterB(b)
	srv, _ := consumetest.Start(b)
	sub := consumetest.Subscribe(b, srv, "chat:l")
	p := producerB(b, c)
	startB(b, c, srv.Hub, nil)
	var lat consumetest.Latencies
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		v, _ := json.Marshal(map[string]any{"channel": "chat:l", "data": i})
		if err := p.ProduceSync(b.Context(), &kgo.Record{Topic: topic, Value: v}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		sub.Count("chat:l", 1)
		lat = append(lat, time.Since(t0))
	}
	lat.Report(b)
}

// startB runs a consumer of c's topic with the default settings.
func startB(b *testing.B, c *kfake.Cluster, p consume.Publisher, obs consume.Observer) {
	k, err := kafka.New(kafka.Config{Brokers: c.ListenAddrs(), Group: "bench", Topics: []kafka.Topic{{Name: topic}}, Publisher: p, Observer: obs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	consumetest.Run(b, k.Run)
}
