package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestRampStopsOnLoss: the first step that loses anything ends the ramp
// and the step before it is the answer.
func TestRampStopsOnLoss(t *testing.T) {
	r := Ramp{Start: 100, Factor: 2, MaxP99: time.Second, MaxRate: 1e9, MaxSteps: 20}
	var tried []float64
	out, err := runRamp(context.Background(), r, func(rate float64) (*Result, error) {
		tried = append(tried, rate)
		res := &Result{Published: 1, Latency: Percentiles{P99: 1}}
		if rate >= 800 {
			res.Lost = 1
		}
		return res, nil
	})
	if err != nil || out.MaxRate != 400 || len(tried) != 4 || !strings.HasPrefix(out.StoppedBy, "loss") || len(out.Steps) != 4 {
		t.Fatalf("ramp %+v tried %v err %v", out, tried, err)
	}
	out, _ = runRamp(context.Background(), Ramp{Start: 100, Factor: 2, MaxP99: time.Second, MaxRate: 250, MaxSteps: 20},
		func(float64) (*Result, error) { return &Result{}, nil })
	if out.MaxRate != 200 || !strings.HasPrefix(out.StoppedBy, "max rate") {
		t.Fatalf("max rate bound: %+v", out)
	}
}

// TestRampLowBound: against a real server, a p99 bound nothing can meet
// stops after the first step with no sustainable rate.
func TestRampLowBound(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cfg := base(s, "fanout")
	cfg.Ramp = Ramp{Enabled: true, Start: 20, Step: 200 * time.Millisecond, MaxP99: time.Nanosecond}
	r := run(t, cfg).Results[0]
	if r.Ramp == nil || r.Ramp.MaxRate != 0 || len(r.Ramp.Steps) != 1 || !strings.HasPrefix(r.Ramp.StoppedBy, "p99") {
		t.Fatalf("ramp: %+v", r.Ramp)
	}
	if r.Delivered == 0 || r.Lost != 0 {
		t.Fatalf("step: delivered %d lost %d", r.Delivered, r.Lost)
	}
	checkOutputs(t, &Report{Results: []*Result{r}})
}
