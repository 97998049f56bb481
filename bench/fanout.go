package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// fanout: N subscribers on one channel, one publisher at Rate (or at rising
// rates, with Ramp). Split over processes, the subscribers' processes
// measure each step and the publisher's merges them (see WorkerHooks).
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
	subs := &subscribers{}
	res := &Result{Name: name, Protocol: cfg.Protocol}
	if cfg.Role != RolePublisher {
		var setup func(*conn) error
		switch {
		case cfg.Protocol == "raw":
		case cfg.Recover:
			setup = func(c *conn) error { _, _, err := c.subscribeFrom(channel, cfg.Timeout); return err }
		default:
			setup = r.subscribe(channel)
		}
		t0 := time.Now()
		subs.conns, res.ConnectErrors = r.open(ctx, 0, cfg.Connections, onMsg, setup)
		res.ConnectSeconds = time.Since(t0).Seconds()
	}
	// Deferred calls run last first: the keepers stop before the clients
	// close, or they would reconnect them.
	defer func() { closeAll(subs.list(), res) }()
	if cfg.Recover {
		var clock outageClock
		stopKeeping := r.keepAll(ctx, subs, channel, &clock, res)
		defer func() {
			stopKeeping()
			res.Outages = clock.outages(time.Now())
		}()
	}
	if cfg.Role == RoleSubscribers {
		return r.fanoutSubscribers(ctx, subs, &cur, name, res)
	}
	step := func(rate float64, d time.Duration) (*Result, error) {
		pub, err := r.newPublisher(rate)
		if err != nil {
			return nil, err
		}
		defer pub.close()
		list := subs.list()
		if cfg.Protocol == "raw" {
			// A raw server acknowledges nothing: a subscriber counts as
			// there once a warm-up message reached it.
			warmUp(ctx, pub, channel, list, cfg.Size)
		}
		u0, d0 := counts(list)
		cpu := startCPU(cfg.ServerPIDs, cfg.BrokerPID)
		t0 := time.Now()
		p := newPhase()
		cur.Store(p)
		stop := make(chan struct{})
		go r.watch(p, name, func() int { return len(list) }, stop)
		published, requested := pace(ctx, rate, d, func(n uint64) {
			pub.publish(channel, payload(time.Now().UnixNano(), n, publisherID, cfg.Size))
		})
		errors := pub.wait()
		var codes map[string]int
		if cp, ok := pub.(interface{ errorCodes() map[string]int }); ok {
			codes = cp.errorCodes()
		}
		// A publication refused or never sent is an error, not a loss.
		good := sat(published, errors)
		var out *Result
		if cfg.Hooks.Collect != nil {
			close(stop)
			if out, err = cfg.Hooks.Collect(ctx, good); err != nil {
				return nil, err
			}
			out.Name = name
		} else {
			// The timeline goes on through the drain, where the
			// deliveries of a saturated run arrive last.
			// Recovering subscribers are replaced as they reconnect:
			// count over the current ones.
			r.drain(ctx, u0+good*uint64(len(list)), func() uint64 { u, _ := counts(subs.list()); return u })
			close(stop)
			out = r.measure(p, name, subs.list(), good, u0, d0)
		}
		if out.CPU, err = cpu.stop(time.Since(t0).Seconds(), sat(out.Expected, out.Lost)); err != nil {
			return nil, err
		}
		out.Published, out.Errors, out.ErrorCodes = published, errors, codes
		out.TargetRate, out.Size, out.Requested = rate, cfg.Size, requested
		out.finish()
		return out, nil
	}
	var out *Result
	if cfg.Ramp.Enabled {
		var steps []*Result
		cpu, t0 := startCPU(cfg.ServerPIDs, cfg.BrokerPID), time.Now()
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
		var seconds float64
		for _, s := range steps {
			s.Connections = 0
			seconds += s.Seconds
			out.Merge(s)
		}
		// Merge folds results that ran side by side (workers), keeping the
		// longest time; the steps ran one after the other.
		out.Seconds = seconds
		out.Name = name + " ramp"
		out.Ramp = ramp
		// Over the whole ramp (each step has its own in Ramp.Steps).
		if out.CPU, err = cpu.stop(time.Since(t0).Seconds(), sat(out.Expected, out.Lost)); err != nil {
			return nil, err
		}
	} else {
		var err error
		if out, err = step(cfg.Rate, cfg.Duration); err != nil {
			return nil, err
		}
	}
	out.Connections = len(subs.list())
	out.ConnectErrors, out.ConnectSeconds = res.ConnectErrors, res.ConnectSeconds
	out.finish()
	*res = *out
	return &Report{Results: []*Result{res}}, nil
}

// fanoutSubscribers is a subscribers-only process: it measures one step
// per count of publications Hooks.Published returns and hands each step's
// result to Hooks.StepDone, until Published says io.EOF. Its own result
// then counts the connections only.
func (r *runner) fanoutSubscribers(ctx context.Context, subs *subscribers, cur *atomicPhase, name string, res *Result) (*Report, error) {
	cfg := r.cfg
	type step struct {
		list   []*conn
		u0, d0 uint64
		p      *phase
		stop   chan struct{}
	}
	// A step begins before the publisher can publish its first message:
	// before Ready, and then before the previous step's StepDone.
	begin := func() *step {
		s := &step{list: subs.list(), p: newPhase(), stop: make(chan struct{})}
		s.u0, s.d0 = counts(s.list)
		cur.Store(s.p)
		go r.watch(s.p, name, func() int { return len(s.list) }, s.stop)
		return s
	}
	s := begin()
	if cfg.Hooks.Ready != nil {
		cfg.Hooks.Ready()
	}
	for {
		published, err := cfg.Hooks.Published(ctx)
		if err != nil {
			close(s.stop)
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		r.drain(ctx, s.u0+published*uint64(len(s.list)), func() uint64 { u, _ := counts(subs.list()); return u })
		close(s.stop)
		out := r.measure(s.p, name, subs.list(), published, s.u0, s.d0)
		s = begin()
		if err := cfg.Hooks.StepDone(out); err != nil {
			close(s.stop)
			return nil, err
		}
	}
	res.Connections = len(subs.list())
	res.finish()
	return &Report{Results: []*Result{res}}, nil
}

// measure fills a step's Result: deliveries expected from publications
// times subscribers, loss and duplicates from the trackers since they
// counted u0 distinct deliveries and d0 duplicates.
func (r *runner) measure(p *phase, name string, subs []*conn, published, u0, d0 uint64) *Result {
	out := p.result(name, r)
	out.Connections = len(subs)
	out.Published = published
	out.Expected = published * uint64(len(subs))
	u, d := counts(subs)
	out.Lost = sat(out.Expected, u-u0)
	out.Duplicates = d - d0
	out.Size = r.cfg.Size
	out.finish()
	return out
}

func sat(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

// subscribers are a fan-out's clients; with Config.Recover a client the
// server closed is replaced by its reconnection. Safe for concurrent use.
type subscribers struct {
	mu    sync.Mutex
	conns []*conn
}

func (s *subscribers) list() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.conns)
}

func (s *subscribers) set(i int, c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[i] = c
}

// Reconnection backoff of a recovering subscriber: the first try comes
// within minBackoff (at random, so that a node's clients do not all come
// back in the same instant), each failure doubles it up to maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// keepAll watches every subscriber and reconnects each one the server
// closes to the same node, subscribing from its last offset, counting the
// closes in res and timing each node's outage on clock. The returned stop
// ends the watch and waits for it.
func (r *runner) keepAll(ctx context.Context, subs *subscribers, channel string, clock *outageClock, res *Result) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		closes      map[string]int
		reconnected atomic.Int64
		unrecovered atomic.Uint64
		recovered   atomic.Uint64
	)
	for i, c := range subs.list() {
		wg.Go(func() {
			for {
				select {
				case <-c.done:
				case <-ctx.Done():
					return
				}
				node := r.dialer.url(c.id)
				clock.closed(node, time.Now())
				mu.Lock()
				closes = addCounts(closes, map[string]int{c.closeKey(): 1})
				mu.Unlock()
				n, complete, pubs := r.resubscribe(ctx, c, channel)
				if n == nil {
					return
				}
				if !complete {
					unrecovered.Add(1)
				}
				recovered.Add(uint64(pubs))
				subs.set(i, n)
				reconnected.Add(1)
				clock.back(node, time.Now())
				c = n
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
		res.Closes = addCounts(res.Closes, closes)
		res.Reconnected = int(reconnected.Load())
		res.Unrecovered = unrecovered.Load()
		res.Recovered = recovered.Load()
	}
}

// resubscribe connects old's client again, with backoff, and subscribes it
// to channel from old's position; nil when ctx ended first.
func (r *runner) resubscribe(ctx context.Context, old *conn, channel string) (c *conn, complete bool, recovered int) {
	backoff := minBackoff
	for {
		select {
		case <-time.After(rand.N(backoff)):
		case <-ctx.Done():
			return nil, false, 0
		}
		backoff = min(2*backoff, maxBackoff)
		c, err := r.dialer.dial(old.id, old.onMsg)
		if err != nil {
			continue
		}
		c.adopt(old)
		complete, recovered, err := c.subscribeFrom(channel, r.cfg.Timeout)
		if err == nil {
			return c, complete, recovered
		}
		c.close()
		<-c.done
	}
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
