package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Plot layout, in SVG pixels: one row per result, a header line naming it,
// then two panels side by side. Each panel keeps its title and legend in a
// band above the plotting area, so the legend never covers data, and its
// tick labels in the margins left of and below it.
const (
	plotWidth   = 1000
	rowHeader   = 34  // the result's name and what it ran
	panelTop    = 46  // panel title, then legend, above the plotting area
	panelHeight = 230 // the plotting area
	panelBottom = 48  // x tick labels and axis title
	marginLeft  = 64  // y tick labels and axis title
	marginRight = 40
	rowGap      = 16
	rowHeight   = rowHeader + panelTop + panelHeight + panelBottom + rowGap
	panelWidth  = plotWidth/2 - marginLeft - marginRight
	warningLine = 16 // each warning's headline under the row header
)

// Series colours: colour-blind safe (Okabe–Ito), with max dashed so that
// the three also differ without colour.
var series = []struct {
	name, colour, dash string
	value              func(Sample) float64
}{
	{"p50", "#0072B2", "", func(s Sample) float64 { return s.P50 }},
	{"p99", "#E69F00", "", func(s Sample) float64 { return s.P99 }},
	{"max", "#D55E00", "5,3", func(s Sample) float64 { return s.Max }},
}

// WritePlot draws an SVG with, per result, the latency over time (p50,
// p99 and max of each second) and the latency distribution (latency
// against percentile on a log "nines" axis), both from zero, with ticks
// and units on every axis.
func (rep *Report) WritePlot(w io.Writer) error {
	height := rowGap
	for _, r := range rep.Results {
		height += rowHeight + warningLine*len(r.Headlines())
	}
	height = max(height, rowHeight)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222">`+"\n",
		plotWidth, height, plotWidth, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	if len(rep.Results) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no results</text>`+"\n", marginLeft, rowGap+20)
	}
	y := rowGap
	for _, r := range rep.Results {
		fmt.Fprintf(&b, `<text class="result" x="16" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", y+16, xmlEscape(r.Name))
		fmt.Fprintf(&b, `<text x="16" y="%d" fill="#555">%s</text>`+"\n", y+31, xmlEscape(describe(r)))
		heads := r.Headlines()
		for i, h := range heads {
			fmt.Fprintf(&b, `<text class="warning" x="16" y="%d" fill="#B00020">⚠ %s</text>`+"\n", y+31+warningLine*(i+1), xmlEscape(h))
		}
		top := y + rowHeader + warningLine*len(heads) + panelTop
		timelinePanel(&b, r, marginLeft, top)
		distributionPanel(&b, r, plotWidth/2+marginLeft, top)
		y += rowHeight + warningLine*len(heads)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// describe is the line under a result's name: what ran and how it went.
func describe(r *Result) string {
	parts := []string{fmt.Sprintf("%s connections", thousands(uint64(r.Connections)))}
	if r.TargetRate > 0 {
		parts = append(parts, strconv.FormatFloat(r.TargetRate, 'f', -1, 64)+" publications/s asked")
	}
	if r.Published > 0 {
		parts = append(parts, thousands(r.Published)+" published")
	}
	parts = append(parts, thousands(r.Delivered)+" delivered", thousands(uint64(math.Round(r.PerSecond)))+" delivered/s")
	if r.Lost > 0 {
		parts = append(parts, thousands(r.Lost)+" lost")
	}
	return strings.Join(parts, " · ")
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// niceTicks returns tick values from 0 to at least top, about n of them,
// on a 1-2-5 step, and the step.
func niceTicks(top float64, n int) ([]float64, float64) {
	if !(top > 0) || math.IsInf(top, 0) {
		top = 1
	}
	raw := top / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		ticks = append(ticks, v)
		if v >= top*(1-1e-9) {
			return ticks, step
		}
	}
}

// tickLabel prints v with as many decimals as step needs (2.5 needs one).
func tickLabel(v, step float64) string {
	dec := 0
	for ; dec < 6; dec++ {
		f := step * math.Pow(10, float64(dec))
		if math.Abs(f-math.Round(f)) < 1e-6*math.Max(1, f) {
			break
		}
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// frame draws a panel's title, grid, axes, y ticks and axis titles; the
// caller adds the x ticks. It returns the y scale.
func frame(b *strings.Builder, x, y int, title, xTitle string, yTop float64) func(float64) float64 {
	fmt.Fprintf(b, `<text class="panel-title" x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", x, y-panelTop+14, xmlEscape(title))
	ticks, step := niceTicks(yTop, 5)
	top := ticks[len(ticks)-1]
	sy := func(v float64) float64 { return float64(y+panelHeight) - v/top*panelHeight }
	for _, t := range ticks {
		py := sy(t)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x, py, x+panelWidth, py)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#444"/>`+"\n", x-5, py, x, py)
		fmt.Fprintf(b, `<text class="ytick" x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", x-8, py, tickLabel(t, step))
	}
	// Axes: left and bottom, over the grid.
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`+"\n", x, y, x, y+panelHeight)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`+"\n", x, y+panelHeight, x+panelWidth, y+panelHeight)
	fmt.Fprintf(b, `<text class="xtitle" x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+panelWidth/2, y+panelHeight+40, xmlEscape(xTitle))
	cy := y + panelHeight/2
	fmt.Fprintf(b, `<text class="ytitle" x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">latency (ms)</text>`+"\n", x-48, cy, x-48, cy)
	return sy
}

// xTick draws one tick and its label below the x axis at px.
func xTick(b *strings.Builder, px float64, y int, label string, grid bool) {
	if grid {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", px, y, px, y+panelHeight)
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#444"/>`+"\n", px, y+panelHeight, px, y+panelHeight+5)
	fmt.Fprintf(b, `<text class="xtick" x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px, y+panelHeight+18, label)
}

// legendY is the line of the legend in the band above the plotting area,
// under the panel's title.
func legendY(y int) int { return y - 14 }

// legend draws the series' swatches in the band above the plotting area.
func legend(b *strings.Builder, x, y int, names, colours, dashes []string) {
	const item = 62
	for i, n := range names {
		lx := x + i*item
		ly := legendY(y)
		fmt.Fprintf(b, `<line class="legend" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5" stroke-dasharray="%s"/>`+"\n", lx, ly, lx+20, ly, colours[i], dashes[i])
		fmt.Fprintf(b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", lx+25, ly, n)
	}
}

func polyline(b *strings.Builder, pts [][2]float64, colour, dash string) {
	if len(pts) == 0 {
		return
	}
	fmt.Fprintf(b, `<polyline class="series" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-dasharray="%s" points="`, colour, dash)
	for _, p := range pts {
		fmt.Fprintf(b, "%.1f,%.1f ", p[0], p[1])
	}
	b.WriteString(`"/>` + "\n")
	if len(pts) <= 20 {
		// Few points: mark them, so a short run still shows its samples.
		for _, p := range pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", p[0], p[1], colour)
		}
	}
}

func noData(b *strings.Builder, x, y int) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" fill="#888">no deliveries</text>`+"\n", x+panelWidth/2, y+panelHeight/2)
}

// timelinePanel plots p50, p99 and max of each timeline interval against
// the interval's end, in seconds since the measured phase began.
func timelinePanel(b *strings.Builder, r *Result, x, y int) {
	tmax, lmax := 1.0, 0.0
	hasData := false
	for _, s := range r.Timeline {
		tmax = math.Max(tmax, s.T)
		if s.Count > 0 {
			lmax, hasData = math.Max(lmax, s.Max), true
		}
	}
	sy := frame(b, x, y, "Latency over time", "time since start (s)", lmax)
	xt, step := niceTicks(tmax, 8)
	tTop := xt[len(xt)-1]
	sx := func(t float64) float64 { return float64(x) + t/tTop*panelWidth }
	for _, t := range xt {
		xTick(b, sx(t), y, tickLabel(t, step), t > 0)
	}
	var names, colours, dashes []string
	for _, s := range series {
		names, colours, dashes = append(names, s.name), append(colours, s.colour), append(dashes, s.dash)
	}
	legend(b, x, y, names, colours, dashes)
	if !hasData {
		noData(b, x, y)
		return
	}
	for _, line := range series {
		var pts [][2]float64
		for _, s := range r.Timeline {
			if s.Count > 0 {
				pts = append(pts, [2]float64{sx(s.T), sy(line.value(s))})
			}
		}
		polyline(b, pts, line.colour, line.dash)
	}
}

// distributionPanel plots latency against percentile on a log "nines"
// axis (0%, 90%, 99%, 99.9%, ...), as HdrHistogram plots do, as far as
// the number of samples supports.
func distributionPanel(b *strings.Builder, r *Result, x, y int) {
	hist := r.Histogram
	var lmax float64
	if hist != nil {
		lmax = ms(hist.Max())
	}
	sy := frame(b, x, y, "Latency distribution", "percentile", lmax)
	// n samples resolve about log10(n) nines.
	nines := 2.0
	if hist != nil && hist.Count() > 0 {
		nines = math.Min(5, math.Max(2, math.Ceil(math.Log10(float64(hist.Count())))))
	}
	sx := func(n float64) float64 { return float64(x) + n/nines*panelWidth }
	for n := 0.0; n <= nines; n++ {
		xTick(b, sx(n), y, percentLabel(n), n > 0)
	}
	xTick(b, sx(math.Log10(2)), y, "50%", true)
	if hist == nil || hist.Count() == 0 {
		noData(b, x, y)
		return
	}
	var pts [][2]float64
	for i := 0; i <= 200; i++ {
		n := nines * float64(i) / 200
		q := 1 - math.Pow(10, -n)
		pts = append(pts, [2]float64{sx(n), sy(ms(hist.Quantile(q)))})
	}
	// The curve ends at the maximum.
	pts = append(pts, [2]float64{sx(nines), sy(lmax)})
	fmt.Fprintf(b, `<polyline class="series" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="`, series[0].colour)
	for _, p := range pts {
		fmt.Fprintf(b, "%.1f,%.1f ", p[0], p[1])
	}
	b.WriteString(`"/>` + "\n")
	// Mark p50, p99 and p99.9 on the curve and give their values, with
	// the maximum, in the band above the plot, where they cover nothing.
	var values []string
	for _, m := range []struct {
		name  string
		nines float64
	}{{"p50", math.Log10(2)}, {"p99", 2}, {"p99.9", 3}} {
		if m.nines > nines {
			continue
		}
		v := ms(hist.Quantile(1 - math.Pow(10, -m.nines)))
		fmt.Fprintf(b, `<circle class="marker" cx="%.1f" cy="%.1f" r="3.5" fill="white" stroke="%s" stroke-width="2"/>`+"\n", sx(m.nines), sy(v), series[0].colour)
		values = append(values, fmt.Sprintf("%s %s ms", m.name, shortMs(v)))
	}
	values = append(values, "max "+shortMs(lmax)+" ms")
	fmt.Fprintf(b, `<text class="legend" x="%d" y="%d" dominant-baseline="middle">○ %s</text>`+"\n",
		x, legendY(y), strings.Join(values, " · "))
}

// percentLabel names the percentile n nines deep: 0 → 0%, 1 → 90%,
// 3 → 99.9%.
func percentLabel(n float64) string {
	if n == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*(1-math.Pow(10, -n)), 'f', max(0, int(n)-2), 64) + "%"
}
