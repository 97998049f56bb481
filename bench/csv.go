package bench

import (
	"encoding/csv"
	"io"
	"math"
	"strconv"
)

// CSVHeader is the first row WriteCSV writes.
var CSVHeader = []string{"result", "time_s", "interval_s", "delivered", "delivered_per_s", "p50_ms", "p99_ms", "max_ms"}

// WriteCSV writes the latency timeline, the data of WritePlot's left
// panel, for plotting elsewhere: one row per result and interval (a
// second, the last one shorter), time_s being the interval's end since
// the measured phase began. An interval without deliveries has empty
// latency cells. The distribution is in the JSON report (--json), whose
// histograms merge exactly.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, r := range rep.Results {
		prev := 0.0
		for _, s := range r.Timeline {
			interval := s.T - prev
			prev = s.T
			row := []string{r.Name, f(round3(s.T)), f(round3(interval)), strconv.FormatUint(s.Count, 10), "", "", "", ""}
			if interval > 0 {
				row[4] = f(round3(float64(s.Count) / interval))
			}
			if s.Count > 0 {
				row[5], row[6], row[7] = f(round3(s.P50)), f(round3(s.P99)), f(round3(s.Max))
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// round3 keeps three decimals: microseconds of a millisecond value.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
