package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// key names what is compared across servers: the scenario and, for echo,
// the payload size (the servers' own result names differ by path).
func key(m measurement) string {
	if m.Scenario == "echo" {
		return fmt.Sprintf("echo %dB", m.Result.Size)
	}
	return fmt.Sprintf("%s %dB", m.Scenario, m.Result.Size)
}

// spread formats the median and range of xs.
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return fmt.Sprintf(format, med)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", med, s[0], s[len(s)-1])
}

// summarise prints, per compared load, each server's medians and ranges
// over the rounds, then the ratios of Herald to each baseline computed
// within each round (the noise a round shares cancels in its ratio).
func summarise(w io.Writer, all []measurement, rounds int) {
	var keys []string
	by := map[string]map[string][]measurement{}
	var names []string
	for _, m := range all {
		k := key(m)
		if by[k] == nil {
			by[k] = map[string][]measurement{}
			keys = append(keys, k)
		}
		if !slices.Contains(names, m.Server) {
			names = append(names, m.Server)
		}
		by[k][m.Server] = append(by[k][m.Server], m)
	}
	metric := func(ms []measurement, f func(measurement) (float64, bool)) []float64 {
		var out []float64
		for _, m := range ms {
			if v, ok := f(m); ok {
				out = append(out, v)
			}
		}
		return out
	}
	rate := func(m measurement) (float64, bool) { return m.Result.PerSecond, true }
	cpu := func(m measurement) (float64, bool) {
		if m.Result.CPU == nil || m.Result.CPU.PerDeliveryUs == 0 {
			return 0, false
		}
		return m.Result.CPU.PerDeliveryUs, true
	}
	for _, k := range keys {
		fmt.Fprintf(w, "\n### %s, %d rounds\n\n", k, rounds)
		fmt.Fprintln(w, "| server | delivered/s | server CPU µs per delivery | server CPU, cores | p50 ms | p99 ms | lost |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		for _, n := range names {
			ms := by[k][n]
			if len(ms) == 0 {
				continue
			}
			var lost uint64
			for _, m := range ms {
				lost += m.Result.Lost
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d |\n", n,
				spread(metric(ms, rate), "%.0f"),
				spread(metric(ms, cpu), "%.2f"),
				spread(metric(ms, func(m measurement) (float64, bool) {
					return utilisation(m), m.Result.CPU != nil
				}), "%.2f"),
				spread(metric(ms, func(m measurement) (float64, bool) { return m.Result.Latency.P50, true }), "%.2f"),
				spread(metric(ms, func(m measurement) (float64, bool) { return m.Result.Latency.P99, true }), "%.2f"),
				lost)
		}
		for _, hn := range names {
			for _, n := range names {
				if !isHerald(hn) || isHerald(n) || len(by[k][hn]) == 0 || len(by[k][n]) == 0 {
					continue
				}
				cpuRatio, rateRatio := ratiosByRound(by[k][hn], by[k][n], cpu)
				fmt.Fprintf(w, "\n%s ÷ %s, per round: CPU per delivery %s, delivered/s %s\n",
					hn, n, spread(cpuRatio, "%.2f×"), spread(rateRatio, "%.2f×"))
			}
		}
	}
	fmt.Fprintln(w)
}

// isHerald reports whether a server name is one of Herald's measured paths
// ("herald", "herald /echo") rather than a baseline.
func isHerald(name string) bool { return strings.HasPrefix(name, "herald") }

func utilisation(m measurement) float64 {
	if m.Result.CPU == nil {
		return 0
	}
	return m.Result.CPU.Utilisation
}

// ratiosByRound pairs each of Herald's runs with the baseline's run in the
// same round and returns their ratios of CPU per delivery and of rate.
func ratiosByRound(herald, base []measurement, cpu func(measurement) (float64, bool)) (cpuRatio, rateRatio []float64) {
	for _, h := range herald {
		for _, b := range base {
			if b.Round != h.Round {
				continue
			}
			if hc, ok := cpu(h); ok {
				if bc, ok := cpu(b); ok {
					cpuRatio = append(cpuRatio, hc/bc)
				}
			}
			if b.Result.PerSecond > 0 {
				rateRatio = append(rateRatio, h.Result.PerSecond/b.Result.PerSecond)
			}
		}
	}
	return cpuRatio, rateRatio
}
