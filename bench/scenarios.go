package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// channels: N clients each on its own channel plus K hot channels every
// client joins. Rate spreads over the personal channels round-robin;
// each hot channel gets HotRate.
func (r *runner) channels(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	p := newPhase()
	onMsg := func(c *conn, f fields, now int64) {
		p.record(now - f.sendNs)
		c.track(f)
	}
	hot := make([]string, cfg.HotChannels)
	for k := range hot {
		hot[k] = r.channel("hot", k)
	}
	subs, errs := r.open(ctx, 0, cfg.Connections, onMsg, func(c *conn) error {
		return r.subscribe(append([]string{r.channel("own", c.id)}, hot...)...)(c)
	})
	res := &Result{}
	defer closeAll(subs, res)
	pub, err := r.newPublisher(cfg.Rate + cfg.HotRate*float64(len(hot)))
	if err != nil {
		return nil, err
	}
	defer pub.close()
	p = newPhase()
	stop := make(chan struct{})
	go r.watch(p, "channels", func() int { return len(subs) }, stop)
	var (
		mu        sync.Mutex // one publisher connection, two pacers
		ownSeq    = make([]uint64, cfg.Connections)
		hotSeq    = make([]uint64, len(hot))
		ownPub    atomic.Uint64
		hotPub    atomic.Uint64
		requested atomic.Uint64
		wg        sync.WaitGroup
		ownTarget = make([]int, 0, len(subs))
	)
	for _, c := range subs {
		ownTarget = append(ownTarget, c.id)
	}
	if len(ownTarget) > 0 {
		wg.Go(func() {
			sent, req := pace(ctx, cfg.Rate, cfg.Duration, func(n uint64) {
				i := ownTarget[int(n-1)%len(ownTarget)]
				mu.Lock()
				ownSeq[i]++
				pub.publish(r.channel("own", i), payload(time.Now().UnixNano(), ownSeq[i], publisherID, cfg.Size))
				mu.Unlock()
			})
			ownPub.Store(sent)
			requested.Add(req)
		})
	}
	if len(hot) > 0 {
		wg.Go(func() {
			sent, req := pace(ctx, cfg.HotRate*float64(len(hot)), cfg.Duration, func(n uint64) {
				k := int(n-1) % len(hot)
				mu.Lock()
				hotSeq[k]++
				pub.publish(hot[k], payload(time.Now().UnixNano(), hotSeq[k], publisherID, cfg.Size))
				mu.Unlock()
			})
			hotPub.Store(sent)
			requested.Add(req)
		})
	}
	wg.Wait()
	errors := pub.wait()
	var codes map[string]int
	if cp, ok := pub.(interface{ errorCodes() map[string]int }); ok {
		codes = cp.errorCodes()
	}
	published := ownPub.Load() + hotPub.Load()
	expected := ownPub.Load() + hotPub.Load()*uint64(len(subs))
	r.drain(ctx, expected, func() uint64 { u, _ := counts(subs); return u })
	close(stop)
	out := r.measure(p, fmt.Sprintf("channels %d+%d hot", len(subs), len(hot)), subs, published, 0, 0)
	out.Expected, out.Errors = expected, errors
	u, _ := counts(subs)
	out.Lost = sat(expected, u)
	out.TargetRate = cfg.Rate
	out.Requested = requested.Load()
	out.ErrorCodes = codes
	out.ConnectErrors = errs
	out.finish()
	*res = *out
	return &Report{Results: []*Result{res}}, nil
}

// echo: closed-loop round trips per path and size; each client sends,
// waits for its own message back, and sends the next.
func (r *runner) echo(ctx context.Context) (*Report, error) {
	rep := &Report{}
	for _, via := range r.cfg.EchoVia {
		for _, size := range r.cfg.Sizes {
			res, err := r.echoOne(ctx, via, size)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, res)
			if ctx.Err() != nil {
				return rep, nil
			}
		}
	}
	return rep, nil
}

func (r *runner) echoOne(ctx context.Context, via string, size int) (*Result, error) {
	cfg := r.cfg
	name := fmt.Sprintf("echo %s %dB", via, size)
	p := newPhase()
	back := make([]chan uint64, cfg.Connections)
	for i := range back {
		back[i] = make(chan uint64, 1)
	}
	onMsg := func(c *conn, f fields, now int64) {
		if f.client != c.id || c.id >= len(back) {
			return // another client's message, broadcast by a raw server
		}
		p.record(now - f.sendNs)
		select {
		case back[c.id] <- f.seq:
		default:
		}
	}
	d := r.dialer
	var setup func(*conn) error
	if via == "echo" {
		d = &dialer{ctx: d.ctx, compress: d.compress, urls: []string{cfg.EchoURL}, raw: true, sources: d.sources, timeout: d.timeout}
	} else {
		setup = func(c *conn) error { return r.subscribe(r.channel("echo", c.id))(c) }
	}
	saved := r.dialer
	r.dialer = d
	conns, errs := r.open(ctx, 0, cfg.Connections, onMsg, setup)
	r.dialer = saved
	res := &Result{}
	defer closeAll(conns, res)
	p = newPhase()
	stop := make(chan struct{})
	go r.watch(p, name, func() int { return len(conns) }, stop)
	var sent, lost, refused atomic.Uint64
	var refusedMu sync.Mutex
	var refusedBy map[string]int
	var wg sync.WaitGroup
	cpu := startCPU(cfg.ServerPIDs, cfg.BrokerPID)
	t0 := time.Now()
	deadline := t0.Add(cfg.Duration)
	for _, c := range conns {
		pub := &clientPublisher{c: c}
		ch := r.channel("echo", c.id)
		wg.Go(func() {
			for seq := uint64(1); time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
				data := payload(time.Now().UnixNano(), seq, c.id, size)
				if via == "self" {
					// Wait for the reply too: a publish the server refuses
					// (rate limits) is an error, not a lost echo.
					if err := c.call(&protocol.Command{Type: protocol.TypePublish, Channel: ch, Data: data}, cfg.Timeout); err != nil {
						refused.Add(1)
						refusedMu.Lock()
						refusedBy = addCounts(refusedBy, map[string]int{errorKey(err): 1})
						refusedMu.Unlock()
						time.Sleep(10 * time.Millisecond)
						continue
					}
				} else {
					pub.publish(ch, data)
				}
				sent.Add(1)
				if !waitSeq(back[c.id], seq, cfg.Timeout, c.done) {
					lost.Add(1)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	out := p.result(name, r)
	var err error
	if out.CPU, err = cpu.stop(time.Since(t0).Seconds(), sent.Load()-lost.Load()); err != nil {
		return nil, err
	}
	out.Connections = len(conns)
	out.ConnectErrors = errs
	out.Published, out.Expected, out.Lost, out.Size = sent.Load(), sent.Load(), lost.Load(), size
	out.Errors = refused.Load()
	out.ErrorCodes = refusedBy
	out.finish()
	*res = *out
	return res, nil
}

// waitSeq waits for the echo of seq, skipping stale ones.
func waitSeq(ch <-chan uint64, seq uint64, timeout time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case got := <-ch:
			if got == seq {
				return true
			}
		case <-done:
			return false
		case <-t.C:
			return false
		}
	}
}

// idle: N connected and subscribed clients held for Duration, answering
// heartbeats; server memory per connection when PID or metrics are given.
func (r *runner) idle(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	var mem *Memory
	measure := len(cfg.ServerPIDs) > 0 || cfg.MetricsURL != ""
	if measure {
		before, src, err := clusterRSS(ctx, cfg.ServerPIDs, cfg.MetricsURL)
		if err != nil {
			return nil, err
		}
		mem = &Memory{Source: src, Before: before}
	}
	p := newPhase()
	conns, errs := r.open(ctx, 0, cfg.Connections, func(*conn, fields, int64) {}, func(c *conn) error {
		return r.subscribe(r.channel("idle", c.id))(c)
	})
	res := &Result{}
	defer closeAll(conns, res)
	stop := make(chan struct{})
	go r.watch(p, "idle", func() int { return alive(conns) }, stop)
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	close(stop)
	if measure {
		after, _, err := clusterRSS(ctx, cfg.ServerPIDs, cfg.MetricsURL)
		if err != nil {
			return nil, err
		}
		mem.After = after
		if len(conns) > 0 {
			mem.PerConnection = (float64(after) - float64(mem.Before)) / float64(len(conns))
		}
	}
	out := p.result("idle", r)
	out.Connections, out.ConnectErrors, out.Memory = len(conns), errs, mem
	out.finish()
	*res = *out
	return &Report{Results: []*Result{res}}, nil
}

func alive(conns []*conn) int {
	n := 0
	for _, c := range conns {
		select {
		case <-c.done:
		default:
			n++
		}
	}
	return n
}

// connect: connection and handshake rate (latency is dial to connect
// reply); with Storm, hold for Duration and reconnect every client the
// server closes, as after a restart.
func (r *runner) connect(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	p := newPhase()
	stop := make(chan struct{})
	var live atomic.Int64
	go r.watch(p, "connect", func() int { return int(live.Load()) }, stop)
	timed := func(c *conn) error {
		live.Add(1)
		return nil
	}
	start := time.Now()
	var conns []*conn
	var errs map[string]int
	var mu sync.Mutex
	sem := make(chan struct{}, cfg.ConnectConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < cfg.Connections && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			c, err := r.dialer.dial(i, func(*conn, fields, int64) {})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = addCounts(errs, map[string]int{errorKey(err): 1})
				return
			}
			p.record(time.Since(t0).Nanoseconds())
			timed(c)
			conns = append(conns, c)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := &Result{}
	name := "connect"
	var reconnected atomic.Int64
	var firstClose, lastBack atomic.Int64
	if cfg.Storm {
		if cfg.Hooks.Ready != nil {
			cfg.Hooks.Ready()
		}
		name = "connect storm"
		storm := NewHistogram()
		deadline := time.Now().Add(cfg.Duration)
		var swg sync.WaitGroup
		var smu sync.Mutex
		for idx, c := range conns {
			swg.Go(func() {
				for cur := c; ; {
					select {
					case <-cur.done:
					case <-time.After(time.Until(deadline)):
						smu.Lock()
						conns[idx] = cur
						smu.Unlock()
						return
					case <-ctx.Done():
						smu.Lock()
						conns[idx] = cur
						smu.Unlock()
						return
					}
					live.Add(-1)
					closed := time.Now()
					firstClose.CompareAndSwap(0, closed.UnixNano())
					smu.Lock()
					res.Closes = addCounts(res.Closes, map[string]int{cur.closeKey(): 1})
					smu.Unlock()
					for time.Now().Before(deadline) && ctx.Err() == nil {
						time.Sleep(time.Duration(rand.Int64N(int64(50 * time.Millisecond))))
						n, err := r.dialer.dial(c.id, func(*conn, fields, int64) {})
						if err == nil {
							cur = n
							live.Add(1)
							reconnected.Add(1)
							storm.Record(time.Since(closed).Nanoseconds())
							for now := time.Now().UnixNano(); ; {
								old := lastBack.Load()
								if now <= old || lastBack.CompareAndSwap(old, now) {
									break
								}
							}
							break
						}
					}
					if cur.nc == nil || time.Now().After(deadline) {
						smu.Lock()
						conns[idx] = cur
						smu.Unlock()
						return
					}
				}
			})
		}
		swg.Wait()
		p.hist = storm
	}
	close(stop)
	out := p.result(name, r)
	closes := res.Closes
	out.Seconds = elapsed.Seconds()
	out.Connections, out.ConnectErrors = len(conns), errs
	out.Delivered = uint64(len(conns)) // handshakes completed
	out.Reconnected = int(reconnected.Load())
	if f, l := firstClose.Load(), lastBack.Load(); f > 0 && l > f {
		out.StormSeconds = float64(l-f) / 1e9
	}
	out.finish()
	*res = *out
	res.Closes = closes
	for _, c := range conns {
		res.Errors += c.cmdErrors.Load()
		c.close()
		<-c.done
	}
	return &Report{Results: []*Result{res}}, nil
}
