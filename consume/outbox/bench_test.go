package outbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/consume/consumetest"
)

// BenchmarkThroughput: rows a consumer publishes per second into a hub on
// the memory engine, from a backlog inserted beforehand in eight channels
// (subscribed to).
func BenchmarkThroughput(b *testing.B) {
	d := newDB(b)
	srv, _ := consumetest.Start(b)
	var chans []string
	for i := range 8 {
		chans = append(chans, fmt.Sprintf("chat:%d", i))
	}
	consumetest.Subscribe(b, srv, chans...)
	d.exec(`INSERT INTO `+d.table+` (channel, data) SELECT 'chat:' || (i % 8), to_jsonb(i) FROM generate_series(0, $1 - 1) i`, b.N)
	b.ResetTimer()
	obs := &consumetest.Observer{}
	d.start(srv.Hub, obs, opts{})
	consumetest.WaitPublished(b, obs, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLatency: from an insert's commit (the statement returning) to
// a subscriber receiving the row, one row at a time, woken by NOTIFY.
func BenchmarkLatency(b *testing.B) {
	d := newDB(b)
	srv, _ := consumetest.Start(b)
	sub := consumetest.Subscribe(b, srv, "chat:l")
	d.start(srv.Hub, &consumetest.Observer{}, opts{})
	var lat consumetest.Latencies
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		d.exec(`INSERT INTO `+d.table+` (channel, data) VALUES ('chat:l', $1)`, fmt.Sprint(i))
		sub.Count("chat:l", 1)
		lat = append(lat, time.Since(t0))
	}
	lat.Report(b)
}
