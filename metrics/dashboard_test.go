package metrics_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestGrafanaDashboard checks that the shipped dashboard is valid JSON and
// that every query names only metrics this package defines.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/herald.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatal("dashboard without title or panels")
	}
	known := []string{
		"herald_connections", "herald_users", "herald_subscriptions", "herald_channels",
		"herald_connections_opened_total", "herald_connections_closed_total",
		"herald_messages_received_total", "herald_messages_sent_total",
		"herald_received_bytes_total", "herald_sent_bytes_total",
		"herald_delivery_latency_seconds_bucket", "herald_write_queue_depth_bucket",
		"herald_broker_operation_duration_seconds_bucket", "herald_broker_errors_total",
		"herald_api_requests_total", "herald_api_request_duration_seconds_bucket",
		"herald_rate_limited_total", "herald_slow_consumer_disconnects_total",
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, word := range strings.FieldsFunc(tg.Expr, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
			}) {
				if strings.HasPrefix(word, "herald_") && !contains(known, word) {
					t.Errorf("panel %q queries unknown metric %s", p.Title, word)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
