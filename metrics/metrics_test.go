package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/protocol"
)

// TestInjectedRegistry checks that every metric lands on the registry
// passed in and none on the global one, and that two sets of metrics live
// side by side on two registries.
func TestInjectedRegistry(t *testing.T) {
	before, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	m1 := metrics.New(r1, metrics.BuildInfo{})
	metrics.New(r2, metrics.BuildInfo{})
	m1.ConnectionOpened()
	if got := testutil.ToFloat64(collector(t, r1, "herald_connections_opened_total")); got != 1 {
		t.Fatalf("r1 opened %v", got)
	}
	if got := testutil.ToFloat64(collector(t, r2, "herald_connections_opened_total")); got != 0 {
		t.Fatalf("r2 opened %v", got)
	}
	after, _ := prometheus.DefaultGatherer.Gather()
	if len(after) != len(before) {
		t.Fatalf("global registry grew from %d to %d families", len(before), len(after))
	}
	for _, f := range after {
		if strings.HasPrefix(f.GetName(), "herald_") {
			t.Fatalf("%s on the global registry", f.GetName())
		}
	}
	// A second New on the same registry is a programming error.
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate registration did not panic")
		}
	}()
	metrics.New(r1, metrics.BuildInfo{})
}

// collector gathers one family from reg as a collector testutil can read.
func collector(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			var v float64
			for _, m := range f.Metric {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "x"}, func() float64 { return v })
		}
	}
	t.Fatalf("%s not gathered", name)
	return nil
}

// TestHandlerTextFormat serves the registry over HTTP and parses what it
// serves; every family follows the naming rules and carries help.
func TestHandlerTextFormat(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.BuildInfo{Version: "v9", Commit: "c0ffee"})
	m.ConnectionOpened()
	m.ConnectionClosed(protocol.CloseSlowConsumer)
	m.ConnectionClosed(3999) // a code Herald does not define
	m.CommandReceived(protocol.Protobuf, "publish")
	m.CommandReceived(protocol.JSON, "made-up-type")
	m.Queued(protocol.JSON, protocol.PushMessage, 5)
	m.FrameWritten(protocol.JSON, 100, 5, 7, time.Now().Add(-20*time.Millisecond).UnixMilli())
	m.FrameWritten(protocol.JSON, 100, 1, 1, time.Now().Add(time.Hour).UnixMilli()) // a clock ahead
	m.RateLimited(hub.LimitChannel)
	m.APIRequest("publish", 200, time.Millisecond)

	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "promhttp_") {
			continue // the handler's own error counter
		}
		if !strings.HasPrefix(name, "herald_") || f.GetHelp() == "" {
			t.Errorf("%s: bad name or no help", name)
		}
		if f.GetType().String() == "COUNTER" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s without _total", name)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	checks := map[string]float64{}
	for _, m := range fams["herald_connections_closed_total"].Metric {
		checks["closed/"+m.Label[0].GetValue()] = m.GetCounter().GetValue()
	}
	if checks["closed/4001"] != 1 || checks["closed/other"] != 1 {
		t.Errorf("closed by code: %v", checks)
	}
	var unknown, pbPublish float64
	for _, m := range fams["herald_messages_received_total"].Metric {
		l := map[string]string{}
		for _, lp := range m.Label {
			l[lp.GetName()] = lp.GetValue()
		}
		switch {
		case l["type"] == "unknown" && l["encoding"] == "json":
			unknown = m.GetCounter().GetValue()
		case l["type"] == "publish" && l["encoding"] == "protobuf":
			pbPublish = m.GetCounter().GetValue()
		}
	}
	if unknown != 1 || pbPublish != 1 {
		t.Errorf("received: unknown %v, protobuf publish %v", unknown, pbPublish)
	}
	lat := fams["herald_delivery_latency_seconds"].Metric[0].GetHistogram()
	if lat.GetSampleCount() != 2 {
		t.Fatalf("latency samples %d", lat.GetSampleCount())
	}
	// 20 ms and a clamped 0: the sum stays within 20 ms plus scheduling.
	if s := lat.GetSampleSum(); s < 0.019 || s > 5 {
		t.Errorf("latency sum %v", s)
	}
	bi := fams["herald_build_info"].Metric[0]
	labels := map[string]string{}
	for _, lp := range bi.Label {
		labels[lp.GetName()] = lp.GetValue()
	}
	if labels["version"] != "v9" || labels["commit"] != "c0ffee" || !strings.HasPrefix(labels["goversion"], "go") || bi.GetGauge().GetValue() != 1 {
		t.Errorf("build info %v = %v", labels, bi.GetGauge().GetValue())
	}
}

// TestInstrumentBroker times a real memory broker's operations and counts
// failures, but not ErrUnrecoverable, which is an answer.
func TestInstrumentBroker(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.BuildInfo{})
	mb := memory.New(memory.Options{})
	b := m.InstrumentBroker(mb, "memory")
	if b.Unwrap() != broker.Broker(mb) {
		t.Fatal("Unwrap")
	}
	ctx := context.Background()
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	if _, _, err := b.Publish(ctx, "ch", &broker.Publication{Data: []byte("1")}, opts); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.History(ctx, "ch", broker.HistoryOptions{Since: &broker.StreamPosition{Offset: 0, Epoch: "not-this-one"}})
	if !errors.Is(err, broker.ErrUnrecoverable) {
		t.Fatalf("history: %v", err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	mb.Close()
	if _, _, err := b.Publish(ctx, "ch", &broker.Publication{Data: []byte("2")}, opts); err == nil {
		t.Fatal("publish on a closed broker succeeded")
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts, errs := map[string]uint64{}, map[string]float64{}
	for _, f := range fams {
		for _, mm := range f.Metric {
			for _, lp := range mm.Label {
				if lp.GetName() != "operation" {
					continue
				}
				switch f.GetName() {
				case "herald_broker_operation_duration_seconds":
					counts[lp.GetValue()] = mm.GetHistogram().GetSampleCount()
				case "herald_broker_errors_total":
					errs[lp.GetValue()] = mm.GetCounter().GetValue()
				}
			}
		}
	}
	if errs["publish"] != 1 || errs["history"] != 0 {
		t.Errorf("errors %v", errs)
	}
	if counts["publish"] != 2 || counts["history"] != 1 {
		t.Errorf("timed operations %v", counts)
	}
}
