package bench

import (
	"context"
	"fmt"
	"time"
)

// fanout: N subscribers on one channel, one publisher at Rate.
func (r *runner) fanout(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	channel := r.channel("fanout", -1)
	name := fmt.Sprintf("fanout %dB", cfg.Size)
	var cur atomicPhase
	cur.Store(newPhase())
	onMsg := func(c *conn, f fields, now int64) {
		if f.client == warmupID {
			c.warm.Store(true)
			return
		}
		cur.Load().record(now - f.sendNs)
		c.track(f)
	}
	var subs []*conn
	var errs map[string]int
	if cfg.Role != RolePublisher {
		setup := r.subscribe(channel)
		if cfg.Protocol == "raw" {
			setup = nil
		}
		subs, errs = r.open(ctx, 0, cfg.Connections, onMsg, setup)
	}
	res := &Result{}
	defer closeAll(subs, res)
	if cfg.Role == RoleSubscribers {
		if cfg.Hooks.Ready != nil {
			cfg.Hooks.Ready()
		}
		p := newPhase()
		cur.Store(p)
		stop := make(chan struct{})
		go r.watch(p, name, func() int { return len(subs) }, stop)
		published, err := cfg.Hooks.Published(ctx)
		if err != nil {
			close(stop)
			return nil, err
		}
		r.drain(ctx, published*uint64(len(subs)), func() uint64 { u, _ := counts(subs); return u })
		close(stop)
		*res = *r.measure(p, name, subs, published, 0)
		res.Published = 0 // the publishing process counts its own
		res.ConnectErrors = errs
		res.finish()
		return &Report{Results: []*Result{res}}, nil
	}
	step := func(rate float64, d time.Duration) (*Result, error) {
		pub, err := r.newPublisher(rate)
		if err != nil {
			return nil, err
		}
		defer pub.close()
		if cfg.Protocol == "raw" {
			// A raw server acknowledges nothing: a subscriber counts as
			// there once a warm-up message reached it.
			warmUp(ctx, pub, channel, subs, cfg.Size)
		}
		u0, d0 := counts(subs)
		var cpu *cpuMeter
		if cfg.Role == "" {
			// With workers the deliveries finish in other processes, so
			// only a single-process run can divide CPU by deliveries.
			cpu = startCPU(cfg.ServerPID)
		} else {
			cpu = startCPU(0)
		}
		t0 := time.Now()
		p := newPhase()
		cur.Store(p)
		stop := make(chan struct{})
		go r.watch(p, name, func() int { return len(subs) }, stop)
		published, requested := pace(ctx, rate, d, func(n uint64) {
			pub.publish(channel, payload(time.Now().UnixNano(), n, publisherID, cfg.Size))
		})
		errors := pub.wait()
		var codes map[string]int
		if cp, ok := pub.(interface{ errorCodes() map[string]int }); ok {
			codes = cp.errorCodes()
		}
		// The timeline goes on through the drain, where the deliveries
		// of a saturated run arrive last.
		r.drain(ctx, u0+published*uint64(len(subs)), func() uint64 { u, _ := counts(subs); return u })
		close(stop)
		out := r.measure(p, name, subs, published, errors)
		u1, d1 := counts(subs)
		if out.CPU, err = cpu.stop(time.Since(t0).Seconds(), u1-u0); err != nil {
			return nil, err
		}
		out.Lost = sat(out.Expected, u1-u0)
		out.Duplicates = d1 - d0
		out.TargetRate, out.Size, out.Requested = rate, cfg.Size, requested
		out.ErrorCodes = codes
		out.finish()
		return out, nil
	}
	var out *Result
	if cfg.Ramp.Enabled {
		var steps []*Result
		ramp, err := runRamp(ctx, cfg.Ramp, func(rate float64) (*Result, error) {
			s, err := step(rate, cfg.Ramp.Step)
			if err == nil {
				steps = append(steps, s)
			}
			return s, err
		})
		if err != nil {
			return nil, err
		}
		out = &Result{Name: name + " ramp", Protocol: cfg.Protocol, Histogram: NewHistogram()}
		for _, s := range steps {
			s.Connections = 0
			out.Merge(s)
		}
		out.Name = name + " ramp"
		out.Ramp = ramp
	} else {
		var err error
		if out, err = step(cfg.Rate, cfg.Duration); err != nil {
			return nil, err
		}
	}
	out.Connections = len(subs)
	out.ConnectErrors = errs
	*res = *out
	return &Report{Results: []*Result{res}}, nil
}

// measure fills a phase's Result: deliveries expected from publications
// times subscribers, loss from the trackers.
func (r *runner) measure(p *phase, name string, subs []*conn, published, errors uint64) *Result {
	out := p.result(name, r)
	out.Connections = len(subs)
	out.Published = published
	// A publication refused or never sent is an error, not a loss.
	out.Expected = sat(published, errors) * uint64(len(subs))
	u, d := counts(subs)
	out.Lost = sat(out.Expected, u)
	out.Duplicates = d
	out.Errors = errors
	out.Size = r.cfg.Size
	return out
}

func sat(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

// warmupID stamps the messages warmUp sends; subscribers do not count them.
const warmupID = publisherID + 1

// warmUp publishes unmeasured messages until every subscriber has received
// one (or 10 s pass): on a server that confirms no subscription, the
// measured phase must not start before the server knows every subscriber.
func warmUp(ctx context.Context, pub publisher, channel string, subs []*conn, size int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ready := 0
		for _, c := range subs {
			if c.warm.Load() {
				ready++
			}
		}
		if ready == len(subs) {
			return
		}
		pub.publish(channel, payload(time.Now().UnixNano(), 0, warmupID, size))
		time.Sleep(20 * time.Millisecond)
	}
}
