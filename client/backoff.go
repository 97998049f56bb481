package client

import (
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect policy: the n-th retry in a row waits a random
// time between 0 and min(Max, Min·Factorⁿ) ("full jitter"), so that many
// clients cut off at once do not come back at once.
type Backoff struct {
	// Min is the first ceiling. Default 200ms.
	Min time.Duration
	// Max caps the ceiling. Default 20s.
	Max time.Duration
	// Factor multiplies the ceiling per retry. Default 2.
	Factor float64
}

func (b *Backoff) setDefaults() {
	if b.Min <= 0 {
		b.Min = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 20 * time.Second
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	if b.Factor < 1 {
		b.Factor = 2
	}
}

// Ceiling returns the largest wait before retry n (counting from 0).
func (b Backoff) Ceiling(n int) time.Duration {
	b.setDefaults()
	c := float64(b.Min)
	for i := 0; i < n && c < float64(b.Max); i++ {
		c *= b.Factor
	}
	return time.Duration(min(c, float64(b.Max)))
}

// Delay returns a random wait before retry n, in [0, Ceiling(n)].
func (b Backoff) Delay(n int) time.Duration {
	return time.Duration(rand.Int64N(int64(b.Ceiling(n)) + 1))
}
