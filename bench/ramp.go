package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Ramp raises the publication rate until latency or loss says stop.
type Ramp struct {
	// Enabled turns ramping on (fanout only).
	Enabled bool
	// Start is the first rate. Default 100/s.
	Start float64
	// Factor multiplies the rate each step. Default 1.5.
	Factor float64
	// Step is each step's duration. Default 5s.
	Step time.Duration
	// MaxP99 is the latency bound. Default 50ms.
	MaxP99 time.Duration
	// MaxRate stops the ramp at this rate (a bound on the run). Default 1e6.
	MaxRate float64
	// MaxSteps bounds the run. Default 20.
	MaxSteps int
}

func (r *Ramp) defaults() error {
	if r.Start <= 0 {
		r.Start = 100
	}
	if r.Factor == 0 {
		r.Factor = 1.5
	}
	if r.Factor <= 1 {
		return errors.New("bench: ramp factor must exceed 1")
	}
	if r.Step <= 0 {
		r.Step = 5 * time.Second
	}
	if r.MaxP99 <= 0 {
		r.MaxP99 = 50 * time.Millisecond
	}
	if r.MaxRate <= 0 {
		r.MaxRate = 1e6
	}
	if r.MaxSteps <= 0 {
		r.MaxSteps = 20
	}
	return nil
}

// RampResult is the outcome of a ramp: the highest rate whose step kept
// p99 within the bound with no loss, and every step.
type RampResult struct {
	MaxRate   float64    `json:"max_sustainable_rate"`
	StoppedBy string     `json:"stopped_by"`
	Steps     []RampStep `json:"steps"`
}

// RampStep is one rate tried.
type RampStep struct {
	Rate       float64 `json:"rate"`
	Published  uint64  `json:"published"`
	PerSecond  float64 `json:"delivered_per_sec"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	Lost       uint64  `json:"lost"`
	Duplicates uint64  `json:"duplicates"`
	// CPUPerDeliveryUs is the servers' CPU time per delivery in the step,
	// given their PIDs.
	CPUPerDeliveryUs float64 `json:"cpu_per_delivery_us,omitempty"`
}

// runRamp calls step at rising rates until one fails the bounds.
func runRamp(ctx context.Context, r Ramp, step func(rate float64) (*Result, error)) (*RampResult, error) {
	out := &RampResult{StoppedBy: "max steps"}
	rate := r.Start
	for i := 0; i < r.MaxSteps; i++ {
		if rate > r.MaxRate {
			out.StoppedBy = fmt.Sprintf("max rate %.0f", r.MaxRate)
			return out, nil
		}
		if ctx.Err() != nil {
			out.StoppedBy = "interrupted"
			return out, nil
		}
		res, err := step(rate)
		if err != nil {
			return out, err
		}
		st := RampStep{Rate: rate, Published: res.Published, PerSecond: res.PerSecond,
			P50: res.Latency.P50, P99: res.Latency.P99, Max: res.Latency.Max, Lost: res.Lost, Duplicates: res.Duplicates}
		if res.CPU != nil {
			st.CPUPerDeliveryUs = res.CPU.PerDeliveryUs
		}
		out.Steps = append(out.Steps, st)
		switch {
		case res.Lost > 0 || res.Duplicates > 0:
			out.StoppedBy = fmt.Sprintf("loss at %.0f/s (%d lost, %d duplicates)", rate, res.Lost, res.Duplicates)
			return out, nil
		case time.Duration(res.Latency.P99*1e6) > r.MaxP99:
			out.StoppedBy = fmt.Sprintf("p99 %.3fms over %v at %.0f/s", res.Latency.P99, r.MaxP99, rate)
			return out, nil
		}
		out.MaxRate = rate
		rate *= r.Factor
	}
	return out, nil
}
