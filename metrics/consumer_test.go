package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/consume"
	"github.com/heraldhq/herald/metrics"
)

// TestConsumerMetrics: each consumer's observer feeds its own series.
func TestConsumerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.BuildInfo{})
	k, o := m.Consumer("kafka"), m.Consumer("outbox")
	k.Published()
	k.Published()
	k.Skipped(consume.ReasonMalformed)
	k.Skipped("not a reason") // ignored, never a new series
	k.Failed()
	k.Lag(7)
	o.Lag(3)
	want := map[string]float64{
		"herald_consumer_published_total": 2,
		"herald_consumer_skipped_total":   1,
		"herald_consumer_failures_total":  1,
		"herald_consumer_lag":             10,
	}
	for name, v := range want {
		if got := testutil.ToFloat64(collector(t, reg, name)); got != v {
			t.Errorf("%s: %v, want %v", name, got, v)
		}
	}
	if n := testutil.CollectAndCount(reg, "herald_consumer_skipped_total"); n != 2*len(consume.Reasons) {
		t.Errorf("%d skipped series, want %d", n, 2*len(consume.Reasons))
	}
}
