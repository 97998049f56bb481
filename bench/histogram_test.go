package bench

import (
	"encoding/json"
	"math"
	"testing"
)

func within(t *testing.T, name string, got, want int64) {
	t.Helper()
	if math.Abs(float64(got-want)) > float64(want)/32+1 {
		t.Errorf("%s = %d, want %d within 1/32", name, got, want)
	}
}

// TestHistogramQuantiles: percentiles of known data are right within the
// bucket precision, and min, max and mean are exact.
func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 100000; v++ {
		h.Record(v)
	}
	within(t, "p50", h.Quantile(0.5), 50000)
	within(t, "p90", h.Quantile(0.9), 90000)
	within(t, "p99", h.Quantile(0.99), 99000)
	within(t, "p999", h.Quantile(0.999), 99900)
	if h.Min() != 1 || h.Max() != 100000 || h.Count() != 100000 || h.Mean() != 50000.5 {
		t.Fatalf("min %d max %d count %d mean %v", h.Min(), h.Max(), h.Count(), h.Mean())
	}
	if h.Quantile(1) != 100000 || h.Quantile(0) != 1 {
		t.Fatalf("q0 %d q1 %d", h.Quantile(0), h.Quantile(1))
	}
	small := NewHistogram()
	for _, v := range []int64{3, 3, 3, 7} {
		small.Record(v)
	}
	if small.Quantile(0.5) != 3 || small.Quantile(0.99) != 7 {
		t.Fatalf("small values are exact: p50 %d p99 %d", small.Quantile(0.5), small.Quantile(0.99))
	}
	if NewHistogram().Quantile(0.5) != 0 {
		t.Fatal("empty histogram")
	}
	big := NewHistogram()
	big.Record(math.MaxInt64)
	big.Record(-5)
	if big.Max() != math.MaxInt64 || big.Min() != 0 {
		t.Fatalf("extremes: %d %d", big.Min(), big.Max())
	}
}

// TestHistogramBuckets: every value falls inside its bucket's range.
func TestHistogramBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 1000, 1 << 20, 1<<40 + 12345, math.MaxUint64 >> 1, math.MaxUint64} {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi || i >= numBuckets {
			t.Errorf("%d in bucket %d [%d,%d]", v, i, lo, hi)
		}
	}
}

// TestHistogramMerge: merging two halves equals recording everything in
// one, also after a JSON round trip (how workers send theirs).
func TestHistogramMerge(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for v := int64(1); v <= 2000; v++ {
		all.Record(v * 1000)
		if v%2 == 0 {
			a.Record(v * 1000)
		} else {
			b.Record(v * 1000)
		}
	}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var b2 Histogram
	if err := json.Unmarshal(raw, &b2); err != nil {
		t.Fatal(err)
	}
	a.Merge(&b2)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %d, direct %d", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Fatalf("merged %d %d %d, direct %d %d %d", a.Count(), a.Min(), a.Max(), all.Count(), all.Min(), all.Max())
	}
	if err := json.Unmarshal([]byte(`{"sub_bits":7,"buckets":{"1":1}}`), new(Histogram)); err == nil {
		t.Fatal("a histogram of another precision was accepted")
	}
}
