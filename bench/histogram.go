package bench

import (
	"encoding/json"
	"math"
	"math/bits"
	"sync/atomic"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits linear buckets, so a recorded value is known within 1/32 (3%).
const subBits = 5

const (
	subCount   = 1 << subBits
	numBuckets = (64 - subBits + 1) * subCount
)

// Histogram counts non-negative values (nanoseconds here) in log-linear
// buckets, like HdrHistogram: fixed size (15 KiB), constant-time Record,
// and two histograms merge exactly by adding bucket counts, which is how
// workers' results combine. Record and the readers may run concurrently.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	min    atomic.Uint64 // stored as value+1 so that 0 means empty
	max    atomic.Uint64
	sum    atomic.Uint64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{} }

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1
	return (e+1)*subCount + int(v>>uint(e)) - subCount
}

// bucketRange is the smallest and largest value that falls in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	e := uint(i/subCount - 1)
	m := uint64(i%subCount + subCount)
	return m << e, (m+1)<<e - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	h.counts[bucketOf(u)].Add(1)
	h.total.Add(1)
	h.sum.Add(u)
	for {
		old := h.max.Load()
		if u <= old || h.max.CompareAndSwap(old, u) {
			break
		}
	}
	for {
		old := h.min.Load()
		if (old != 0 && u+1 >= old) || h.min.CompareAndSwap(old, u+1) {
			break
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value (exact), 0 when empty.
func (h *Histogram) Max() int64 { return int64(h.max.Load()) }

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() int64 {
	if m := h.min.Load(); m > 0 {
		return int64(m - 1)
	}
	return 0
}

// Mean is the average recorded value, 0 when empty.
func (h *Histogram) Mean() float64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value below which a fraction q (0..1) of the
// recorded values fall, within the bucket precision; the answer is the
// middle of its bucket, clamped to the exact min and max.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= n {
		return h.Max()
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := int64(lo + (hi-lo)/2)
			return min(max(v, h.Min()), h.Max())
		}
	}
	return h.Max()
}

// Merge adds other's values to h.
func (h *Histogram) Merge(other *Histogram) {
	if other == nil || other.Count() == 0 {
		return
	}
	for i := range other.counts {
		if c := other.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(other.total.Load())
	h.sum.Add(other.sum.Load())
	for u := other.max.Load(); ; {
		old := h.max.Load()
		if u <= old || h.max.CompareAndSwap(old, u) {
			break
		}
	}
	for u := other.min.Load(); ; {
		old := h.min.Load()
		if (old != 0 && u >= old) || h.min.CompareAndSwap(old, u) {
			break
		}
	}
}

// Reset empties h. Values recorded concurrently may be lost or kept.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
	h.min.Store(0)
}

// histogramJSON is the sparse wire form: bucket index → count.
type histogramJSON struct {
	SubBits int            `json:"sub_bits"`
	Min     int64          `json:"min"`
	Max     int64          `json:"max"`
	Sum     uint64         `json:"sum"`
	Buckets map[int]uint64 `json:"buckets"`
}

// MarshalJSON writes the non-empty buckets only.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	out := histogramJSON{SubBits: subBits, Min: h.Min(), Max: h.Max(), Sum: h.sum.Load(), Buckets: map[int]uint64{}}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			out.Buckets[i] = c
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote, adding to h's counts.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var in histogramJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in.SubBits != subBits && len(in.Buckets) > 0 {
		return errHistogramPrecision
	}
	var n uint64
	for i, c := range in.Buckets {
		if i < 0 || i >= numBuckets {
			return errHistogramPrecision
		}
		h.counts[i].Add(c)
		n += c
	}
	h.total.Add(n)
	h.sum.Add(in.Sum)
	if n > 0 {
		h.max.Store(uint64(in.Max))
		h.min.Store(uint64(in.Min) + 1)
	}
	return nil
}
