package bench

import (
	"bytes"
	"strings"
	"testing"
)

func anyContains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// timeline builds one sample a second with the given p50s.
func timeline(p50s ...float64) []Sample {
	var out []Sample
	for i, v := range p50s {
		out = append(out, Sample{T: float64(i + 1), Count: 100, P50: v, P99: 2 * v, Max: 3 * v})
	}
	return out
}

func TestWarningsShortfall(t *testing.T) {
	r := &Result{Name: "fanout 128B", TargetRate: 200, Requested: 2000, Published: 1687}
	w := r.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "published 1,687 of 2,000 messages: the publisher could not keep the requested rate of 200/s") {
		t.Fatalf("%q", w)
	}
	if h := r.Headlines(); len(h) != 1 || !strings.HasSuffix(h[0], "rate of 200/s") {
		t.Fatalf("headline %q", h)
	}
	for _, ok := range []*Result{
		{TargetRate: 200, Requested: 2000, Published: 2000},
		{TargetRate: 200, Requested: 2000, Published: 1999}, // the pacer's last tick
		{TargetRate: 200, Requested: 2000, Published: 1985}, // within 1%
		{TargetRate: 0.5, Requested: 2, Published: 1},       // rounding of a tiny run
		{Published: 10}, // no target (echo)
		{TargetRate: 200, Requested: 2000, Published: 1000, Ramp: &RampResult{}},
	} {
		if w := ok.Warnings(); len(w) != 0 {
			t.Errorf("%+v: %q", ok, w)
		}
	}
}

func TestWarningsSaturation(t *testing.T) {
	climbing := &Result{TargetRate: 200, Timeline: timeline(180, 300, 450, 630, 900, 1200, 1600, 2100, 2400)}
	w := climbing.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "latency kept climbing through the run (p50 300 ms in its first third, 2,100 ms in its last)") {
		t.Fatalf("%q", w)
	}
	if !strings.Contains(w[0], "saturated") || strings.Contains(w[0], "lost") {
		t.Fatalf("%q", w)
	}
	climbing.Lost = 1392268
	if w := climbing.Warnings(); len(w) != 1 || !strings.Contains(w[0], "the 1,392,268 deliveries counted lost had not arrived when the drain ended") {
		t.Fatalf("%q", w)
	}
	for name, r := range map[string]*Result{
		"steady":          {TargetRate: 200, Timeline: timeline(1, 1.2, 0.9, 1.1, 1, 1.3, 0.8, 1, 1.1)},
		"one spike":       {TargetRate: 200, Timeline: timeline(1, 1, 1, 500, 1, 1)},
		"falling":         {TargetRate: 200, Timeline: timeline(900, 600, 300, 100, 10, 1)},
		"small rise":      {TargetRate: 200, Timeline: timeline(0.5, 0.7, 1, 1.5, 2, 2.5)},
		"dip then rise":   {TargetRate: 200, Timeline: timeline(100, 100, 10, 10, 300, 300)},
		"too short":       {TargetRate: 200, Timeline: timeline(1, 1000)},
		"closed loop":     {Timeline: timeline(1, 10, 100, 1000, 2000, 4000)},
		"ramp":            {TargetRate: 200, Ramp: &RampResult{}, Timeline: timeline(1, 10, 100, 1000, 2000, 4000)},
		"empty intervals": {TargetRate: 200, Timeline: []Sample{{T: 1}, {T: 2}, {T: 3}, {T: 4}}},
		"no timeline":     {TargetRate: 200},
	} {
		if w := r.Warnings(); len(w) != 0 {
			t.Errorf("%s: %q", name, w)
		}
	}
	// Intervals without deliveries do not count as a third of the run.
	gappy := &Result{TargetRate: 200, Timeline: append(timeline(10, 20, 40, 80, 160, 320), Sample{T: 7}, Sample{T: 8})}
	if w := gappy.Warnings(); len(w) != 1 {
		t.Fatalf("gappy: %q", w)
	}
}

func TestWarningsExplainLimits(t *testing.T) {
	r := &Result{Name: "fanout 128B", Connections: 50,
		ConnectErrors: map[string]int{"http 429": 1950, "close 4005": 3, "dial": 1},
		ErrorCodes:    map[string]int{"error 110": 62, "publisher close 4004": 1, "publisher redial": 2}}
	w := r.Warnings()
	want := []string{
		"1,954 of 2,004 clients could not connect (close 4005 ×3, dial ×1, http 429 ×1950)",
		"close 4005: the server's connection caps closed them: limits.max_connections_per_ip",
		"http 429: the server refused connections opened faster than its connect rate per address (limits.connect_rate_per_ip",
		"error 110: the server refused publications over its per-connection publish rate (limits.publish_rate",
		"publisher close 4004: the server closed a connection after too many rate-limited commands in a row (limits.rate_limit_strikes",
	}
	if len(w) != len(want) {
		t.Fatalf("%d warnings, want %d: %q", len(w), len(want), w)
	}
	for i := range want {
		if !strings.HasPrefix(w[i], want[i]) {
			t.Errorf("warning %d:\n got %q\nwant %q...", i, w[i], want[i])
		}
	}
	// Each limit says how to lift it for a benchmark.
	for _, env := range []string{"HERALD_LIMITS_CONNECT_RATE_PER_IP=-1", "HERALD_LIMITS_MAX_CONNECTIONS_PER_IP=", "HERALD_LIMITS_PUBLISH_RATE=-1", "--source-ips", "--publishers"} {
		if !anyContains(w, env) {
			t.Errorf("no warning says %s", env)
		}
	}
	// The plot shows the gist only: the count of failed clients.
	if h := r.Headlines(); len(h) != 1 || !strings.HasPrefix(h[0], "1,954 of 2,004 clients") {
		t.Fatalf("headlines %q", h)
	}
	var table bytes.Buffer
	(&Report{Results: []*Result{r}}).WriteTable(&table)
	if !strings.Contains(table.String(), "fanout 128B: warning: http 429: ") {
		t.Fatalf("table:\n%s", table.String())
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 1687: "1,687", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("%d: %q", n, got)
		}
	}
}

// TestResultIsASnapshot: deliveries recorded after a phase's result is
// taken (late arrivals, until the clients close) change neither its
// histogram nor its timeline, so the plot agrees with the table.
func TestResultIsASnapshot(t *testing.T) {
	p := newPhase()
	p.record(5e6)
	p.tick()
	r := p.result("x", &runner{})
	r.finish()
	p.record(50e6)
	p.tick()
	if r.Histogram.Count() != 1 || r.Delivered != 1 || ms(r.Histogram.Max()) != r.Latency.Max || len(r.Timeline) != 1 {
		t.Fatalf("count %d delivered %d max %v (table %v), %d samples", r.Histogram.Count(), r.Delivered, ms(r.Histogram.Max()), r.Latency.Max, len(r.Timeline))
	}
}
