package main

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/bench"
)

func TestSpread(t *testing.T) {
	cases := []struct {
		xs   []float64
		want string
	}{
		{nil, "–"},
		{[]float64{2}, "2.0"},
		{[]float64{3, 1, 2}, "2.0 (1.0–3.0)"},
		{[]float64{4, 1, 2, 3}, "2.5 (1.0–4.0)"},
	}
	for _, c := range cases {
		if got := spread(c.xs, "%.1f"); got != c.want {
			t.Errorf("spread(%v) = %q, want %q", c.xs, got, c.want)
		}
	}
}

// TestSummaryRatiosWithinRounds: ratios pair each Herald run with the
// baseline run of the same round, not with the baseline's median.
func TestSummaryRatiosWithinRounds(t *testing.T) {
	m := func(round int, server string, perSec, cpuUs float64) measurement {
		return measurement{Round: round, Server: server, Scenario: "fanout", Result: &bench.Result{
			Size: 64, PerSecond: perSec, CPU: &bench.CPU{PerDeliveryUs: cpuUs, Utilisation: 0.5},
		}}
	}
	all := []measurement{
		m(1, "herald", 100, 12), m(1, "gws", 100, 10),
		m(2, "herald", 100, 24), m(2, "gws", 100, 20), // a slow round: both slower
		m(3, "herald", 100, 11), m(3, "gws", 100, 10),
	}
	var out strings.Builder
	summarise(&out, all, 3)
	s := out.String()
	for _, want := range []string{"### fanout 64B, 3 rounds", "| herald | 100 (100–100) | 12.00 (11.00–24.00)",
		"herald ÷ gws, per round: CPU per delivery 1.20× (1.10×–1.20×)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// TestSummaryHeraldPaths: Herald's publish-to-self and its /echo are each
// compared with every baseline, and never with each other.
func TestSummaryHeraldPaths(t *testing.T) {
	m := func(server string, cpuUs float64) measurement {
		return measurement{Round: 1, Server: server, Scenario: "echo", Result: &bench.Result{
			Size: 128, PerSecond: 1000 / cpuUs, CPU: &bench.CPU{PerDeliveryUs: cpuUs, Utilisation: 1},
		}}
	}
	var out strings.Builder
	summarise(&out, []measurement{m("herald", 40), m("herald /echo", 22), m("gobwas", 20)}, 1)
	s := out.String()
	for _, want := range []string{
		"herald ÷ gobwas, per round: CPU per delivery 2.00×, delivered/s 0.50×",
		"herald /echo ÷ gobwas, per round: CPU per delivery 1.10×",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "herald ÷ herald /echo") || strings.Contains(s, "herald /echo ÷ herald") {
		t.Errorf("Herald compared with itself:\n%s", s)
	}
}
