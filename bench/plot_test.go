package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

// svgElement is one element of a plot: its name, attributes and text.
type svgElement struct {
	name  string
	attrs map[string]string
	text  string
}

func parseSVG(t *testing.T, b []byte) []*svgElement {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out, open []*svgElement
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("invalid SVG: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &svgElement{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out, open = append(out, e), append(open, e)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				open[len(open)-1].text += string(tok)
			}
		}
	}
}

func (e *svgElement) num(t *testing.T, attr string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.attrs[attr], 64)
	if err != nil {
		t.Fatalf("%s %s=%q: %v", e.name, attr, e.attrs[attr], err)
	}
	return v
}

func byClass(els []*svgElement, class string) []*svgElement {
	var out []*svgElement
	for _, e := range els {
		if e.attrs["class"] == class {
			out = append(out, e)
		}
	}
	return out
}

func texts(els []*svgElement) []string {
	var out []string
	for _, e := range els {
		out = append(out, e.text)
	}
	return out
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// syntheticReport is a fanout that saturated: latency climbs to 2.4 s.
func syntheticReport() *Report {
	h := NewHistogram()
	for i := range 10000 {
		h.Record(int64(i) * 240_000) // 0 to 2.4 s
	}
	r := &Result{Name: "fanout 128B", Protocol: "herald", TargetRate: 200, Requested: 2000, Published: 1687,
		Connections: 2000, Histogram: h, Timeline: timeline(180, 300, 450, 630, 900, 1200, 1600, 2100, 2400)}
	r.Delivered = 10000
	r.finish()
	return &Report{Results: []*Result{r, {Name: "idle", Histogram: NewHistogram()}}}
}

// TestPlotStructure: each panel has both axes from zero with ticks and
// units, the legend sits above the data, and the warnings' gist is shown.
func TestPlotStructure(t *testing.T) {
	var b bytes.Buffer
	if err := syntheticReport().WritePlot(&b); err != nil {
		t.Fatal(err)
	}
	els := parseSVG(t, b.Bytes())
	if els[0].name != "svg" || els[0].attrs["viewBox"] == "" {
		t.Fatalf("root %+v", els[0])
	}
	titles := texts(append(byClass(els, "xtitle"), byClass(els, "ytitle")...))
	for _, want := range []string{"time since start (s)", "percentile", "latency (ms)"} {
		if !has(titles, want) {
			t.Errorf("no axis title %q in %q", want, titles)
		}
	}
	if n := len(byClass(els, "ytitle")); n != 4 {
		t.Errorf("%d y axis titles, want one per panel (4)", n)
	}
	yt, xt := texts(byClass(els, "ytick")), texts(byClass(els, "xtick"))
	for _, want := range []string{"0", "500", "1000", "2500"} {
		if !has(yt, want) {
			t.Errorf("no y tick %q in %q", want, yt)
		}
	}
	for _, want := range []string{"0", "2", "10", "0%", "50%", "90%", "99%", "99.9%", "99.99%"} {
		if !has(xt, want) {
			t.Errorf("no x tick %q in %q", want, xt)
		}
	}
	// The legend is above every data point of the first row.
	legendBottom := 0.0
	for _, e := range byClass(els, "legend")[:3] {
		if e.name != "line" {
			t.Fatalf("legend element %+v", e)
		}
		legendBottom = max(legendBottom, e.num(t, "y1"))
	}
	if legendBottom == 0 {
		t.Fatal("no legend")
	}
	top := 1e9
	for _, e := range byClass(els, "series")[:3] {
		for _, p := range strings.Fields(e.attrs["points"]) {
			y, _ := strconv.ParseFloat(strings.Split(p, ",")[1], 64)
			top = min(top, y)
		}
	}
	if top <= legendBottom+8 {
		t.Errorf("data reaches y=%v, the legend is at y=%v", top, legendBottom)
	}
	legend := texts(els)
	for _, want := range []string{"p50", "p99", "max"} {
		if !has(legend, want) {
			t.Errorf("no legend entry %q", want)
		}
	}
	if w := texts(byClass(els, "warning")); len(w) != 2 || !strings.Contains(w[0], "published 1,687 of 2,000") || !strings.Contains(w[1], "latency kept climbing") {
		t.Errorf("warnings on the plot: %q", w)
	}
	// A result without deliveries still gets its axes, and says so.
	if !has(texts(els), "no deliveries") {
		t.Error("empty result not labelled")
	}
	var empty bytes.Buffer
	(&Report{}).WritePlot(&empty)
	parseSVG(t, empty.Bytes())
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		top       float64
		n         int
		step, end float64
	}{
		{2367, 5, 500, 2500}, {0.8, 5, 0.2, 0.8}, {19.6, 5, 5, 20}, {12, 5, 2.5, 12.5}, {6.9, 8, 1, 7}, {0, 5, 0.2, 1},
	} {
		ticks, step := niceTicks(c.top, c.n)
		if step != c.step || ticks[0] != 0 || ticks[len(ticks)-1] != c.end {
			t.Errorf("niceTicks(%v, %d) = %v step %v, want step %v up to %v", c.top, c.n, ticks, step, c.step, c.end)
		}
	}
	for _, c := range []struct {
		v, step float64
		want    string
	}{{2.5, 2.5, "2.5"}, {5, 2.5, "5.0"}, {0, 0.25, "0.00"}, {1000, 500, "1000"}, {0.4, 0.2, "0.4"}} {
		if got := tickLabel(c.v, c.step); got != c.want {
			t.Errorf("tickLabel(%v, %v) = %q, want %q", c.v, c.step, got, c.want)
		}
	}
}

func TestCSV(t *testing.T) {
	rep := syntheticReport()
	rep.Results[0].Timeline = append(rep.Results[0].Timeline, Sample{T: 9.5})
	var b bytes.Buffer
	if err := rep.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "result,time_s,interval_s,delivered,delivered_per_s,p50_ms,p99_ms,max_ms" {
		t.Fatalf("header %q", rows[0])
	}
	if len(rows) != 1+10 {
		t.Fatalf("%d rows, want a header and 10 intervals", len(rows))
	}
	if got := strings.Join(rows[2], ","); got != "fanout 128B,2,1,100,100,300,600,900" {
		t.Fatalf("row 2: %q", got)
	}
	// The last, half-second interval without deliveries: no latencies.
	if got := strings.Join(rows[10], ","); got != "fanout 128B,9.5,0.5,0,0,,," {
		t.Fatalf("last row: %q", got)
	}
}
