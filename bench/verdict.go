package bench

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// A table of numbers does not say when the numbers are not what was asked
// for. Warnings says it in words: clients that could not connect and the
// server limit behind it, a publisher that fell short of the rate, and
// latency that kept climbing (a run past what the setup sustains, whose
// percentiles grow with its length).

// Saturation thresholds: the latency of the last third of a run's
// timeline must be at least satFactor times that of the first third and
// satMinMs more, with the middle third in between, for the run to count
// as saturated. The floor keeps a sub-millisecond wobble from counting.
const (
	satFactor = 2.0
	satMinMs  = 5.0
)

// finding is one warning: text is what the summary prints, headline its
// gist for the plot ("" to leave it off the plot).
type finding struct{ headline, text string }

// Warnings returns what a reader of r's numbers must know, in words; none
// for a run that went as asked.
func (r *Result) Warnings() []string {
	var out []string
	for _, f := range r.findings() {
		out = append(out, f.text)
	}
	return out
}

// Headlines are the gists of the warnings, short enough for a plot.
func (r *Result) Headlines() []string {
	var out []string
	for _, f := range r.findings() {
		if f.headline != "" {
			out = append(out, f.headline)
		}
	}
	return out
}

func (r *Result) findings() []finding {
	var out []finding
	if len(r.ConnectErrors) > 0 {
		failed := 0
		for _, n := range r.ConnectErrors {
			failed += n
		}
		h := fmt.Sprintf("%s of %s clients could not connect (%s)",
			thousands(uint64(failed)), thousands(uint64(failed+r.Connections)), countsString(r.ConnectErrors))
		out = append(out, finding{h, h})
		out = append(out, hints(r.ConnectErrors)...)
	}
	out = append(out, hints(r.ErrorCodes)...)
	out = append(out, hints(r.Closes)...)
	if r.Ramp == nil {
		if f, ok := r.shortfall(); ok {
			out = append(out, f)
		}
		if f, ok := r.saturation(); ok {
			out = append(out, f)
		}
	}
	return out
}

// hints explains the keys of counts that are server limits.
func hints(counts map[string]int) []finding {
	var out []finding
	for _, k := range sortedKeys(counts) {
		if h := limitHint(k); h != "" {
			out = append(out, finding{text: k + ": " + h})
		}
	}
	return out
}

// shortfall says when fewer publications went out than the rate asked
// for; a shortfall of one (the last tick of the pacer) is rounding.
func (r *Result) shortfall() (finding, bool) {
	if r.Requested == 0 || r.Published+1 >= r.Requested || float64(r.Published) >= 0.99*float64(r.Requested) {
		return finding{}, false
	}
	rate := ""
	if r.TargetRate > 0 {
		rate = fmt.Sprintf(" of %s/s", strconv.FormatFloat(r.TargetRate, 'f', -1, 64))
	}
	h := fmt.Sprintf("published %s of %s messages: the publisher could not keep the requested rate%s",
		thousands(r.Published), thousands(r.Requested), rate)
	return finding{h, h + ", so the server had less to do than asked (it read the publications too slowly, or this machine ran out of CPU)"}, true
}

// saturation says when latency climbed from the first third of the run to
// the last: deliveries fell behind and queued, so the percentiles measure
// the queue, which grows with the run's length, not a steady state.
func (r *Result) saturation() (finding, bool) {
	if r.TargetRate <= 0 {
		return finding{}, false // closed-loop and connect runs cannot build a backlog
	}
	var p50s []float64
	for _, s := range r.Timeline {
		if s.Count > 0 {
			p50s = append(p50s, s.P50)
		}
	}
	third := len(p50s) / 3
	if third == 0 {
		return finding{}, false
	}
	first, middle, last := median(p50s[:third]), median(p50s[third:len(p50s)-third]), median(p50s[len(p50s)-third:])
	if last < satFactor*first || last-first < satMinMs || middle < first {
		return finding{}, false
	}
	h := fmt.Sprintf("latency kept climbing through the run (p50 %s ms in its first third, %s ms in its last)", shortMs(first), shortMs(last))
	text := h + ": deliveries fell behind the rate and queued, so the server or this machine is saturated " +
		"and the percentiles grow with the run's length"
	if r.Lost > 0 {
		text += fmt.Sprintf("; the %s deliveries counted lost had not arrived when the drain ended, and were most likely still queued (a longer --drain tells)",
			thousands(r.Lost))
	}
	return finding{h, text + "; lower --rate or --subscribers, or find the highest steady rate with --ramp"}, true
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// shortMs prints a latency in milliseconds to a sensible precision.
func shortMs(v float64) string {
	switch {
	case v >= 100:
		return thousands(uint64(math.Round(v)))
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// thousands prints n with comma separators: 1,687.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
