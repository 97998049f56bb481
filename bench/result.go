package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// Report is what one bench invocation measured: one Result per scenario
// variant (echo has one per path and size).
type Report struct {
	Results []*Result `json:"results"`
}

// Result is one measured scenario. Counts are deliveries (a publication
// reaching one subscriber) unless said otherwise; latencies are in ms.
type Result struct {
	Name        string  `json:"name"`
	Protocol    string  `json:"protocol"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	Size        int     `json:"size,omitempty"`
	Seconds     float64 `json:"seconds"`
	Connections int     `json:"connections"`
	// ConnectErrors counts failed connects by cause: "close 4501",
	// "error 101", "http 503", "dial", "timeout".
	ConnectErrors map[string]int `json:"connect_errors,omitempty"`
	// ConnectSeconds is how long connecting (and subscribing) the clients
	// took, the slowest process's with workers; ConnectRate is
	// Connections over it.
	ConnectSeconds float64 `json:"connect_seconds,omitempty"`
	ConnectRate    float64 `json:"connect_rate,omitempty"`
	// Closes counts connections the server closed during the run, by code.
	Closes map[string]int `json:"closes,omitempty"`
	// Requested is how many publications the target rate asked for in
	// the time the publisher ran; Published falls short of it when the
	// publisher could not keep the rate.
	Requested  uint64 `json:"requested,omitempty"`
	Published  uint64 `json:"published"`
	Expected   uint64 `json:"expected"`
	Delivered  uint64 `json:"delivered"`
	Lost       uint64 `json:"lost"`
	Duplicates uint64 `json:"duplicates"`
	Errors     uint64 `json:"errors"`
	// ErrorCodes counts the publisher's error replies by code.
	ErrorCodes map[string]int `json:"error_codes,omitempty"`
	PerSecond  float64        `json:"delivered_per_sec"`
	Latency    Percentiles    `json:"latency_ms"`
	Histogram  *Histogram     `json:"histogram"`
	Timeline   []Sample       `json:"timeline,omitempty"`
	Memory     *Memory        `json:"memory,omitempty"`
	// CPU is the server's processor time in the measured phase, given
	// its PID (fanout in one process, echo).
	CPU         *CPU        `json:"server_cpu,omitempty"`
	Ramp        *RampResult `json:"ramp,omitempty"`
	Reconnected int         `json:"reconnected,omitempty"`
	// StormSeconds is how long a reconnect storm took, from the first close
	// to the last reconnect.
	StormSeconds float64 `json:"storm_seconds,omitempty"`
	// Outages are the nodes' restarts a recovering fan-out went through
	// (Config.Recover); Recovered counts the publications resubscribes
	// recovered, and Unrecovered the resubscribes whose missed
	// publications the server could not all return.
	Outages     []Outage `json:"outages,omitempty"`
	Recovered   uint64   `json:"recovered,omitempty"`
	Unrecovered uint64   `json:"unrecovered,omitempty"`
}

// Percentiles summarises a latency histogram in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Sample is one interval of the latency timeline.
type Sample struct {
	T     float64 `json:"t"`
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func percentiles(h *Histogram) Percentiles {
	return Percentiles{
		P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max()), Mean: h.Mean() / 1e6,
	}
}

// finish derives the computed fields from the counts.
func (r *Result) finish() {
	if r.Histogram == nil {
		r.Histogram = NewHistogram()
	}
	r.Latency = percentiles(r.Histogram)
	if r.Seconds > 0 {
		r.PerSecond = float64(r.Delivered) / r.Seconds
	}
	if r.ConnectSeconds > 0 {
		r.ConnectRate = float64(r.Connections) / r.ConnectSeconds
	}
}

// Merge folds other (the same scenario, run by another worker) into r:
// counts add, histograms merge exactly, timelines add counts and keep the
// worse percentile of each interval.
func (r *Result) Merge(o *Result) {
	r.Connections += o.Connections
	r.ConnectErrors = addCounts(r.ConnectErrors, o.ConnectErrors)
	r.Closes = addCounts(r.Closes, o.Closes)
	r.ErrorCodes = addCounts(r.ErrorCodes, o.ErrorCodes)
	r.Published += o.Published
	r.Requested += o.Requested
	r.Expected += o.Expected
	r.Delivered += o.Delivered
	r.Lost += o.Lost
	r.Duplicates += o.Duplicates
	r.Errors += o.Errors
	r.Reconnected += o.Reconnected
	r.Seconds = max(r.Seconds, o.Seconds)
	r.StormSeconds = max(r.StormSeconds, o.StormSeconds)
	r.ConnectSeconds = max(r.ConnectSeconds, o.ConnectSeconds)
	r.Outages = mergeOutages(r.Outages, o.Outages)
	r.Unrecovered += o.Unrecovered
	r.Recovered += o.Recovered
	if r.Histogram == nil {
		r.Histogram = NewHistogram()
	}
	r.Histogram.Merge(o.Histogram)
	for i, s := range o.Timeline {
		if i >= len(r.Timeline) {
			r.Timeline = append(r.Timeline, s)
			continue
		}
		t := &r.Timeline[i]
		t.Count += s.Count
		t.P50, t.P99, t.Max = max(t.P50, s.P50), max(t.P99, s.P99), max(t.Max, s.Max)
	}
	r.Memory = r.Memory.merge(o.Memory, r.Connections)
	r.finish()
}

// MergeReports merges the workers' reports result by result.
func MergeReports(reports []*Report) *Report {
	out := &Report{}
	for _, rep := range reports {
		for i, r := range rep.Results {
			if i >= len(out.Results) {
				c := *r
				c.Histogram = NewHistogram()
				c.Histogram.Merge(r.Histogram)
				c.ConnectErrors, c.Closes = maps.Clone(r.ConnectErrors), maps.Clone(r.Closes)
				c.Timeline = append([]Sample(nil), r.Timeline...)
				c.Outages = slices.Clone(r.Outages)
				c.finish()
				out.Results = append(out.Results, &c)
				continue
			}
			out.Results[i].Merge(r)
		}
	}
	return out
}

func addCounts(a, b map[string]int) map[string]int {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = map[string]int{}
	}
	for k, v := range b {
		a[k] += v
	}
	return a
}

// WriteTable prints the human summary.
func (rep *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconns\tpublished\tdelivered\tmsg/s\tlost\tdups\terrors\tp50 ms\tp90 ms\tp99 ms\tp999 ms\tmax ms\t")
	for _, r := range rep.Results {
		l := r.Latency
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
			r.Name, r.Connections, r.Published, r.Delivered, r.PerSecond, r.Lost, r.Duplicates, r.Errors,
			l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	tw.Flush()
	for _, r := range rep.Results {
		var notes []string
		if len(r.ErrorCodes) > 0 {
			notes = append(notes, "publish errors: "+countsString(r.ErrorCodes))
		}
		if len(r.Closes) > 0 {
			notes = append(notes, "closed by server: "+countsString(r.Closes))
		}
		if m := r.Memory; m != nil {
			notes = append(notes, fmt.Sprintf("server memory (%s): %.1f MiB before, %.1f MiB after, %.1f KiB per connection",
				m.Source, float64(m.Before)/(1<<20), float64(m.After)/(1<<20), m.PerConnection/1024))
		}
		if c := r.CPU; c != nil {
			notes = append(notes, fmt.Sprintf("server CPU: %.2fs (%.0f%% of a core), %.2f µs per delivery",
				c.Seconds, c.Utilisation*100, c.PerDeliveryUs))
		}
		if r.ConnectSeconds > 0 {
			notes = append(notes, fmt.Sprintf("connect: %d in %.2fs, %.0f/s", r.Connections, r.ConnectSeconds, r.ConnectRate))
		}
		if c := r.CPU; c != nil && c.Broker != nil {
			notes = append(notes, fmt.Sprintf("broker CPU: %.2fs, %.2f µs per delivery", c.Broker.Seconds, c.Broker.PerDeliveryUs))
		}
		if c := r.CPU; c != nil {
			for _, n := range c.Nodes {
				notes = append(notes, fmt.Sprintf("node pid %d: %.2fs CPU, %.1f MiB resident", n.PID, n.Seconds, float64(n.RSS)/(1<<20)))
			}
		}
		for _, o := range r.Outages {
			back := "all back"
			if o.NotBack > 0 {
				back = fmt.Sprintf("%d not back", o.NotBack)
			}
			notes = append(notes, fmt.Sprintf("outage of %s: %d clients closed, %s after %.2fs", o.Node, o.Clients, back, o.Seconds))
		}
		if r.Recovered > 0 {
			notes = append(notes, fmt.Sprintf("%d publications recovered on resubscribing", r.Recovered))
		}
		if r.Unrecovered > 0 {
			notes = append(notes, fmt.Sprintf("%d resubscribes could not recover everything missed", r.Unrecovered))
		}
		if r.Reconnected > 0 || r.StormSeconds > 0 {
			notes = append(notes, fmt.Sprintf("reconnect storm: %d reconnected in %.2fs", r.Reconnected, r.StormSeconds))
		}
		if rr := r.Ramp; rr != nil {
			notes = append(notes, fmt.Sprintf("ramp: max sustainable rate %.0f/s (stopped: %s)", rr.MaxRate, rr.StoppedBy))
		}
		for _, n := range notes {
			fmt.Fprintf(w, "%s: %s\n", r.Name, n)
		}
		for _, n := range r.Warnings() {
			fmt.Fprintf(w, "%s: warning: %s\n", r.Name, n)
		}
	}
}

func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s ×%d", k, m[k])
	}
	return b.String()
}
