package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// WritePlot draws an SVG with, per result, the latency over time (p50,
// p99 and max per second) and the latency distribution (percentile
// against latency, log scale), from the Report's timelines and
// histograms.
func (rep *Report) WritePlot(w io.Writer) error {
	const width, panelH, pad = 960, 260, 50
	height := len(rep.Results)*(panelH+pad) + pad
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	for i, r := range rep.Results {
		y := pad + i*(panelH+pad)
		fmt.Fprintf(&b, `<text x="10" y="%d" font-size="13">%s</text>`+"\n", y-10, xmlEscape(r.Name))
		timelinePanel(&b, r, 50, y, width/2-80, panelH-30)
		distributionPanel(&b, r, width/2+40, y, width/2-80, panelH-30)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func axes(b *strings.Builder, x, y, w, h int, xl, yl string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x, y, w, h)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+w/2, y+h+25, xmlEscape(xl))
	fmt.Fprintf(b, `<text x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">%s</text>`+"\n", x-35, y+h/2, x-35, y+h/2, xmlEscape(yl))
}

func polyline(b *strings.Builder, pts [][2]float64, color string) {
	if len(pts) == 0 {
		return
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, color)
	for _, p := range pts {
		fmt.Fprintf(b, "%.1f,%.1f ", p[0], p[1])
	}
	b.WriteString(`"/>` + "\n")
}

func timelinePanel(b *strings.Builder, r *Result, x, y, w, h int) {
	axes(b, x, y, w, h, "time (s)", "latency (ms)")
	tl := r.Timeline
	tmax, lmax := 1.0, 0.0
	for _, s := range tl {
		tmax, lmax = math.Max(tmax, s.T), math.Max(lmax, s.Max)
	}
	if lmax == 0 {
		lmax = 1
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%.3g</text>`+"\n", x-3, y+10, lmax)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%.3g</text>`+"\n", x+w, y+h+12, tmax)
	for _, line := range []struct {
		color string
		v     func(Sample) float64
	}{{"#2a7", func(s Sample) float64 { return s.P50 }}, {"#e80", func(s Sample) float64 { return s.P99 }}, {"#c22", func(s Sample) float64 { return s.Max }}} {
		var pts [][2]float64
		for _, s := range tl {
			if s.Count == 0 {
				continue
			}
			pts = append(pts, [2]float64{float64(x) + s.T/tmax*float64(w), float64(y+h) - line.v(s)/lmax*float64(h)})
		}
		polyline(b, pts, line.color)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#2a7">p50</text><text x="%d" y="%d" fill="#e80">p99</text><text x="%d" y="%d" fill="#c22">max</text>`+"\n",
		x+5, y+12, x+35, y+12, x+65, y+12)
}

// distributionPanel plots latency against percentile on a log "nines"
// axis (50%, 90%, 99%, 99.9%, ...), as HdrHistogram plots do.
func distributionPanel(b *strings.Builder, r *Result, x, y, w, h int) {
	axes(b, x, y, w, h, "percentile", "latency (ms)")
	hist := r.Histogram
	if hist == nil || hist.Count() == 0 {
		return
	}
	const maxNines = 4.0
	lmax := ms(hist.Max())
	if lmax == 0 {
		lmax = 1
	}
	var pts [][2]float64
	for i := 0; i <= 200; i++ {
		nines := maxNines * float64(i) / 200
		q := 1 - math.Pow(10, -nines)
		pts = append(pts, [2]float64{float64(x) + nines/maxNines*float64(w), float64(y+h) - ms(hist.Quantile(q))/lmax*float64(h)})
	}
	polyline(b, pts, "#26c")
	for n, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%"} {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", float64(x)+float64(n)/maxNines*float64(w), y+h+12, label)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%.3g</text>`+"\n", x-3, y+10, lmax)
}
