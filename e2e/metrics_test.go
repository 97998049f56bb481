package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

// metricsServer starts a test server whose hub, server and broker report
// to a fresh registry served at /metrics.
func metricsServer(t *testing.T, hc hub.Config, sc server.Config) (*ht.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.BuildInfo{Version: "1.2.3", Commit: "abc123"})
	mb := memory.New(memory.Options{})
	t.Cleanup(func() { mb.Close() })
	hc.Observer = m
	sc.Observer = m
	sc.Pages = map[string]http.Handler{"/metrics": metrics.Handler(reg)}
	s := ht.Start(t, ht.Options{Hub: hc, Server: sc, Broker: m.InstrumentBroker(mb, "memory")})
	if err := m.WatchHub(s.Hub); err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// scrape fetches /metrics over HTTP and parses the text format.
func scrape(t *testing.T, s *ht.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the sample of name whose labels include
// labels ("k", "v", ...): a counter's or gauge's value, a histogram's
// count. Missing samples are 0.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// TestMetricsAfterTraffic drives real traffic through a server and checks
// that each metric moved as it should.
func TestMetricsAfterTraffic(t *testing.T) {
	s, _ := metricsServer(t,
		hub.Config{ReadRate: 0.001, ReadBurst: 1},
		server.Config{ConnectRatePerIP: 0.001, ConnectBurstPerIP: 10})

	a, _ := s.Connect(t, ht.Token(t, "alice", nil))
	b, _ := s.Connect(t, ht.Token(t, "bob", nil))
	for _, c := range []*ht.Client{a, b} {
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:room"})
	}
	a.Call(map[string]any{"type": "publish", "channel": "chat:room", "data": map[string]any{"n": 1}})
	s.MustAPI("publish", map[string]any{"channel": "chat:room", "data": map[string]any{"n": 2}})
	a.Messages("chat:room", 2)
	b.Messages("chat:room", 2)

	// The read bucket holds one token: the second history is refused.
	a.Call(map[string]any{"type": "history", "channel": "chat:room", "limit": 1})
	if got := a.Call(map[string]any{"type": "history", "channel": "chat:room", "limit": 1}); got.ErrorCode() != int(protocol.CodeTooManyRequests) {
		t.Fatalf("second history: %v", got)
	}

	// API: one bad key (401), one unknown method (404).
	if st, _ := s.APIRaw("publish", "wrong-key", map[string]any{"channel": "chat:room", "data": 1}); st != http.StatusUnauthorized {
		t.Fatalf("bad key: %d", st)
	}
	if st, _ := s.APIRaw("no_such_method", ht.APIKey, nil); st != http.StatusNotFound {
		t.Fatalf("unknown method: %d", st)
	}

	// Closes: alice leaves with 1000, bob is disconnected by the API with 4000.
	a.Conn.Close(websocket.StatusNormalClosure, "bye")
	s.MustAPI("disconnect", map[string]any{"user": "bob", "code": 4000, "reason": "go"})
	b.ExpectClose(4000)
	ht.Eventually(t, 5*time.Second, func() bool { return s.Hub.Info().Clients == 0 }, "clients gone")

	// Spend the connect bucket until the upgrade is refused with 429.
	refused := false
	for range 50 {
		if st, _ := s.HTTPGet("/ws"); st == http.StatusTooManyRequests {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("connect rate never refused")
	}

	f := scrape(t, s)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"herald_connections_opened_total", nil, 2},
		{"herald_connections", nil, 0},
		{"herald_connections_closed_total", []string{"code", "1000"}, 1},
		{"herald_connections_closed_total", []string{"code", "4000"}, 1},
		{"herald_messages_received_total", []string{"type", "connect", "encoding", "json"}, 2},
		{"herald_messages_received_total", []string{"type", "subscribe", "encoding", "json"}, 2},
		{"herald_messages_received_total", []string{"type", "publish", "encoding", "json"}, 1},
		{"herald_messages_received_total", []string{"type", "history", "encoding", "json"}, 2},
		{"herald_messages_sent_total", []string{"type", "message", "encoding", "json"}, 4},
		{"herald_messages_sent_total", []string{"type", "disconnect", "encoding", "json"}, 1},
		{"herald_delivery_latency_seconds", nil, 0}, // checked below: at least one sample
		{"herald_rate_limited_total", []string{"limit", "read"}, 1},
		{"herald_rate_limited_total", []string{"limit", "connect_ip"}, 1},
		{"herald_api_requests_total", []string{"method", "publish", "status", "200"}, 1},
		{"herald_api_requests_total", []string{"method", "disconnect", "status", "200"}, 1},
		{"herald_api_requests_total", []string{"method", "publish", "status", "401"}, 1},
		{"herald_api_requests_total", []string{"method", "unknown", "status", "404"}, 1},
		{"herald_build_info", []string{"version", "1.2.3", "commit", "abc123"}, 1},
	} {
		if c.name == "herald_delivery_latency_seconds" {
			continue
		}
		if got := value(f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Four message pushes were written, in at least one frame each client.
	if got := value(f, "herald_delivery_latency_seconds"); got < 2 || got > 4 {
		t.Errorf("delivery latency samples %v, want 2..4", got)
	}
	if got := value(f, "herald_broker_operation_duration_seconds", "engine", "memory", "operation", "publish"); got != 2 {
		t.Errorf("broker publish timings %v, want 2", got)
	}
	for _, name := range []string{"herald_received_bytes_total", "herald_sent_bytes_total", "herald_write_queue_depth"} {
		if value(f, name, "encoding", "json") == 0 && value(f, name) == 0 {
			t.Errorf("%s did not move", name)
		}
	}
	if got := value(f, "herald_messages_received_total", "type", "publish", "encoding", "protobuf"); got != 0 {
		t.Errorf("protobuf publish counted %v", got)
	}
}

// TestMetricsGauges checks the gauges read from the hub.
func TestMetricsGauges(t *testing.T) {
	s, _ := metricsServer(t, hub.Config{}, server.Config{})
	a, _ := s.Connect(t, ht.Token(t, "alice", nil))
	a.Call(map[string]any{"type": "subscribe", "channel": "chat:one"})
	a.Call(map[string]any{"type": "subscribe", "channel": "chat:two"})
	f := scrape(t, s)
	for name, want := range map[string]float64{"herald_users": 1, "herald_channels": 2, "herald_subscriptions": 2, "herald_connections": 1} {
		if got := value(f, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if f["herald_presence_removals_pending"] == nil {
		t.Error("herald_presence_removals_pending missing")
	}
}

// TestMetricsSlowConsumer overflows a client that does not read and checks
// the slow-consumer counter and the 4001 close.
func TestMetricsSlowConsumer(t *testing.T) {
	waitsOnClock(t)
	s, _ := metricsServer(t,
		hub.Config{WriteQueueMessages: 64, WriteQueueBytes: 256 << 10},
		server.Config{WriteTimeout: 300 * time.Millisecond})
	slow := ht.DialRaw(t, s.Addr(), "/ws", nil)
	frame, _ := protocol.JSON.AppendCommand(nil, &protocol.Command{ID: 1, Type: "connect", Token: ht.Token(t, "slow", nil)})
	frame = append(frame, '\n')
	frame, _ = protocol.JSON.AppendCommand(frame, &protocol.Command{ID: 2, Type: "subscribe", Channel: "plain"})
	slow.WriteText(frame)
	ht.Eventually(t, 2*time.Second, func() bool { return s.Hub.Channels("plain")["plain"] == 1 }, "subscribed")
	payload := []byte(`"` + strings.Repeat("x", 16<<10) + `"`)
	for i := 0; i < 4000 && s.Hub.Stats().SlowConsumers == 0; i++ {
		if _, err := s.Hub.Publish(context.Background(), "plain", payload, ""); err != nil {
			t.Fatal(err)
		}
	}
	// When the kernel took everything, the server sent the close frame and
	// waits up to 5 s for the peer's, which a client that does not read
	// never sends: allow for that wait.
	ht.Eventually(t, 10*time.Second, func() bool { return s.Hub.Info().Clients == 0 }, "slow consumer dropped")
	f := scrape(t, s)
	if got := value(f, "herald_slow_consumer_disconnects_total"); got != 1 {
		t.Errorf("slow consumers %v, want 1", got)
	}
	if got := value(f, "herald_connections_closed_total", "code", "4001"); got != 1 {
		t.Errorf("closed with 4001: %v, want 1", got)
	}
}
