package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/protocol"
)

// Run runs the configured scenario and returns what it measured. It
// always ends: each phase lasts Config.Duration, draining Config.Drain,
// and cancelling ctx stops it early with what was measured so far.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg}
	r.dialer = &dialer{ctx: ctx, compress: cfg.Compress, urls: cfg.URLs, raw: cfg.Protocol == "raw", sources: cfg.SourceIPs, timeout: cfg.Timeout}
	if cfg.Protocol == "herald" && cfg.TokenSecret != "" {
		secret := []byte(cfg.TokenSecret)
		r.dialer.token = func(i int) (string, error) {
			return auth.SignHMAC(secret, map[string]any{"sub": "bench-" + strconv.Itoa(i), "exp": time.Now().Add(24 * time.Hour).Unix()})
		}
	}
	switch cfg.Scenario {
	case "fanout":
		return r.fanout(ctx)
	case "channels":
		return r.channels(ctx)
	case "echo":
		return r.echo(ctx)
	case "idle":
		return r.idle(ctx)
	default:
		return r.connect(ctx)
	}
}

func newRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type runner struct {
	cfg    Config
	dialer *dialer
}

// channel names a channel of this run.
func (r *runner) channel(kind string, i int) string {
	name := r.cfg.Channel + kind + "." + r.cfg.RunID
	if i >= 0 {
		name += "." + strconv.Itoa(i)
	}
	return name
}

// phase collects one measured phase's latencies and counts.
type phase struct {
	hist      *Histogram
	interval  *Histogram
	delivered atomic.Uint64
	start     time.Time
	mu        sync.Mutex
	timeline  []Sample
}

func newPhase() *phase {
	return &phase{hist: NewHistogram(), interval: NewHistogram(), start: time.Now()}
}

func (p *phase) record(latencyNs int64) {
	p.hist.Record(latencyNs)
	p.interval.Record(latencyNs)
	p.delivered.Add(1)
}

// tick closes one timeline interval.
func (p *phase) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.interval
	p.timeline = append(p.timeline, Sample{T: time.Since(p.start).Seconds(), Count: h.Count(),
		P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max())})
	h.Reset()
}

// watch ticks the phase every second and prints the live line, until
// stop is closed.
func (r *runner) watch(p *phase, name string, conns func() int, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-stop:
			if r.cfg.Progress != nil {
				fmt.Fprintln(r.cfg.Progress)
			}
			return
		case <-t.C:
			p.tick()
			d := p.delivered.Load()
			if r.cfg.Progress != nil {
				fmt.Fprintf(r.cfg.Progress, "\r%s %4.0fs  conns %d  delivered %d  %.0f msg/s  p99 %.3f ms   ",
					name, time.Since(p.start).Seconds(), conns(), d, float64(d-last), ms(p.hist.Quantile(0.99)))
			}
			last = d
		}
	}
}

// minLastInterval is the shortest last timeline interval, in seconds.
const minLastInterval = 0.25

// result turns a finished phase into a Result.
func (p *phase) result(name string, r *runner) *Result {
	p.mu.Lock()
	last := 0.0
	if n := len(p.timeline); n > 0 {
		last = p.timeline[n-1].T
	}
	p.mu.Unlock()
	if p.interval.Count() > 0 && time.Since(p.start).Seconds()-last >= minLastInterval {
		// Deliveries since the last tick make a last, shorter interval;
		// a sliver of one would plot noise (they are in the histogram).
		p.tick()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A copy: arrivals go on being recorded until the clients close, and
	// the histogram must keep agreeing with the percentiles and counts
	// taken from it now.
	hist := NewHistogram()
	hist.Merge(p.hist)
	return &Result{Name: name, Protocol: r.cfg.Protocol, Seconds: time.Since(p.start).Seconds(),
		Delivered: hist.Count(), Histogram: hist, Timeline: slices.Clone(p.timeline)}
}

// open connects n clients (ids from first) with bounded concurrency and
// runs setup on each; failures are counted by cause.
func (r *runner) open(ctx context.Context, first, n int, onMsg handler, setup func(*conn) error) ([]*conn, map[string]int) {
	var (
		mu    sync.Mutex
		conns = make([]*conn, 0, n)
		errs  map[string]int
		wg    sync.WaitGroup
		sem   = make(chan struct{}, r.cfg.ConnectConcurrency)
	)
	for i := first; i < first+n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := r.dialer.dial(i, onMsg)
			if err == nil && setup != nil {
				if err = setup(c); err != nil {
					c.close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if errs == nil {
					errs = map[string]int{}
				}
				errs[errorKey(err)]++
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	return conns, errs
}

func errorKey(err error) string {
	if ce, ok := err.(*connectError); ok {
		return ce.Key
	}
	return "other"
}

// subscribe is a setup that subscribes to channels.
func (r *runner) subscribe(channels ...string) func(*conn) error {
	return func(c *conn) error {
		for _, ch := range channels {
			if err := c.call(&protocol.Command{Type: protocol.TypeSubscribe, Channel: ch}, r.cfg.Timeout); err != nil {
				return err
			}
		}
		return nil
	}
}

// closeAll closes clients and counts those the server had closed.
func closeAll(conns []*conn, res *Result) {
	for _, c := range conns {
		select {
		case <-c.done:
			if res.Closes == nil {
				res.Closes = map[string]int{}
			}
			res.Closes[c.closeKey()]++
		default:
		}
		res.Errors += c.cmdErrors.Load()
		c.close()
	}
	for _, c := range conns {
		<-c.done
	}
}

// counts sums distinct and duplicate deliveries over clients.
func counts(conns []*conn) (unique, dups uint64) {
	for _, c := range conns {
		u, d := c.counts()
		unique += u
		dups += d
	}
	return unique, dups
}

// pace calls send at rate per second for d (or until ctx ends) and
// returns how many it sent and how many the rate asked for in the time it
// ran: fewer sent than requested means send could not keep up.
func pace(ctx context.Context, rate float64, d time.Duration, send func(n uint64)) (sent, requested uint64) {
	start := time.Now()
	for {
		el := time.Since(start)
		if el >= d || ctx.Err() != nil {
			return sent, uint64(math.Round(rate * min(el, d).Seconds()))
		}
		for due := uint64(rate*el.Seconds()) + 1; sent < due; {
			sent++
			send(sent)
		}
		next := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
		if w := time.Until(next); w > 0 {
			time.Sleep(min(w, d-el))
		}
	}
}

// publisher publishes payloads to channels.
type publisher interface {
	publish(channel string, p []byte)
	// wait returns once every publish has been sent (the API's are
	// asynchronous) and the error count.
	wait() uint64
	close()
}

// clientPublisher publishes over a protocol connection, not waiting for
// replies (error replies are counted). A publisher the server closes (or
// whose network fails) is dialled again at its next publication, so one
// lost connection costs the publications sent meanwhile, not the rest of
// a long run; the closes are reported under "publisher close N".
type clientPublisher struct {
	c    *conn
	dial func() (*conn, error)
	// failed counts publications that could not be sent; earlier counts
	// the error replies and codes of connections already replaced.
	failed  uint64
	earlier uint64
	codes   map[string]int
	// counted is the closed connection whose counts are already in
	// earlier and codes, so that failed redials do not count it again.
	counted *conn
}

func (p *clientPublisher) publish(channel string, data []byte) {
	if !p.alive() {
		p.failed++
		return
	}
	if p.c.publish(channel, data) != nil {
		p.failed++
	}
}

// alive reports whether the publisher has an open connection, replacing
// one that closed.
func (p *clientPublisher) alive() bool {
	select {
	case <-p.c.done:
	default:
		return true
	}
	if p.counted != p.c {
		p.counted = p.c
		p.note("publisher "+p.c.closeKey(), 1)
		p.earlier += p.c.cmdErrors.Load()
		for k, n := range p.c.errorCodes() {
			p.note(k, n)
		}
	}
	c, err := p.dial()
	if err != nil {
		p.note("publisher redial", 1)
		return false
	}
	p.c = c
	return true
}

func (p *clientPublisher) note(key string, n int) {
	if p.codes == nil {
		p.codes = map[string]int{}
	}
	p.codes[key] += n
}

func (p *clientPublisher) wait() uint64 {
	n := p.failed + p.earlier
	if p.counted != p.c {
		n += p.c.cmdErrors.Load()
	}
	return n
}

// errorCodes are the publisher's error replies by code, and its closes.
func (p *clientPublisher) errorCodes() map[string]int {
	var out map[string]int
	if p.counted != p.c {
		out = p.c.errorCodes()
	}
	for k, n := range p.codes {
		if out == nil {
			out = map[string]int{}
		}
		out[k] += n
	}
	return out
}

func (p *clientPublisher) close() { p.c.close(); <-p.c.done }

// apiPublisher publishes through the server API with a few requests in
// flight, so one slow request does not hold the rate back. With several
// API bases (a recovering fan-out over a cluster) it fails over: a
// publication whose request fails, or gets a 5xx, goes to the next node
// with the same idempotency key, so that it is delivered once even when
// the first node stored it before failing.
type apiPublisher struct {
	urls   []string
	key    string
	client *http.Client
	work   chan [2][]byte
	wg     sync.WaitGroup
	errs   atomic.Uint64
	// idempotent: keys are runID-N, N counting publications.
	runID string
	n     atomic.Uint64
	// prefer is the index of the base that answered last.
	prefer atomic.Int64
}

// maxFailoverTimeout bounds each request of a publisher that fails over:
// a node that hangs while it drains must not hold a publication for the
// whole Timeout, once per try.
const maxFailoverTimeout = 3 * time.Second

func newAPIPublisher(urls []string, key, runID string, timeout time.Duration) *apiPublisher {
	if len(urls) > 1 {
		timeout = min(timeout, maxFailoverTimeout)
	}
	p := &apiPublisher{key: key, work: make(chan [2][]byte, 1024),
		client: &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	for _, u := range urls {
		p.urls = append(p.urls, u+"/publish")
	}
	if len(urls) > 1 {
		p.runID = runID
	}
	for range 16 {
		p.wg.Go(func() {
			for w := range p.work {
				if !p.post(w[0], w[1]) {
					p.errs.Add(1)
				}
			}
		})
	}
	return p
}

// failoverPause is how long a failed-over publication waits before it
// tries the next node: a node that drains refuses at once.
const failoverPause = 50 * time.Millisecond

// post publishes data to channel, failing over as the type says; it
// reports whether a node accepted it.
func (p *apiPublisher) post(channel, data []byte) bool {
	body := append(append(append([]byte(`{"channel":`), strconv.Quote(string(channel))...), `,"data":`...), data...)
	if p.runID != "" {
		body = append(body, `,"idempotency_key":"`+p.runID+"-"+strconv.FormatUint(p.n.Add(1), 10)+`"`...)
	}
	body = append(body, '}')
	tries := 1
	if len(p.urls) > 1 {
		tries = 2 * len(p.urls)
	}
	for try := range tries {
		i := (int(p.prefer.Load()) + try) % len(p.urls)
		if try > 0 {
			time.Sleep(failoverPause)
		}
		req, _ := http.NewRequest(http.MethodPost, p.urls[i], bytes.NewReader(body))
		req.Header.Set("Authorization", "apikey "+p.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := p.client.Do(req)
		if err != nil {
			continue
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			continue
		}
		if try > 0 {
			p.prefer.Store(int64(i))
		}
		return resp.StatusCode == http.StatusOK && !bytes.Contains(b.Bytes(), []byte(`"error"`))
	}
	return false
}

func (p *apiPublisher) publish(channel string, data []byte) {
	p.work <- [2][]byte{[]byte(channel), data}
}

func (p *apiPublisher) wait() uint64 {
	close(p.work)
	p.wg.Wait()
	p.work = nil
	return p.errs.Load()
}

func (p *apiPublisher) close() {
	if p.work != nil {
		p.wait()
	}
	p.client.CloseIdleConnections()
}

// newPublisher opens the configured publisher for rate publications a
// second: the API's, or Config.publishers client connections (client ids
// from publisherID up).
func (r *runner) newPublisher(rate float64) (publisher, error) {
	if r.cfg.PublishVia == "api" {
		return newAPIPublisher(r.cfg.apiBases, r.cfg.APIKey, r.cfg.RunID, r.cfg.Timeout), nil
	}
	n := r.cfg.publishers(rate)
	pool := &publisherPool{}
	for k := range n {
		dial := func() (*conn, error) { return r.dialer.dial(publisherID+k, func(*conn, fields, int64) {}) }
		c, err := dial()
		if err != nil {
			pool.close()
			what := "the publisher"
			if n > 1 {
				what = fmt.Sprintf("publisher %d of %d", k+1, n)
			}
			return nil, fmt.Errorf("bench: %s could not connect: %w%s", what, err, explainSuffix(errorKey(err)))
		}
		pool.ps = append(pool.ps, &clientPublisher{c: c, dial: dial})
	}
	if n == 1 {
		return pool.ps[0], nil
	}
	return pool, nil
}

// publisherPool spreads publications over client publishers, round robin,
// so that each stays under a server's per-connection publish rate.
type publisherPool struct {
	ps   []*clientPublisher
	next int
}

func (p *publisherPool) publish(channel string, data []byte) {
	p.ps[p.next].publish(channel, data)
	p.next = (p.next + 1) % len(p.ps)
}

func (p *publisherPool) wait() uint64 {
	var n uint64
	for _, c := range p.ps {
		n += c.wait()
	}
	return n
}

func (p *publisherPool) errorCodes() map[string]int {
	var out map[string]int
	for _, c := range p.ps {
		out = addCounts(out, c.errorCodes())
	}
	return out
}

func (p *publisherPool) close() {
	for _, c := range p.ps {
		c.close()
	}
}

// drain waits until have() reaches want, for at most Drain.
func (r *runner) drain(ctx context.Context, want uint64, have func() uint64) {
	deadline := time.Now().Add(r.cfg.Drain)
	for have() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// atomicPhase is the phase that receivers record into.
type atomicPhase = atomic.Pointer[phase]

// publisherID is the client number publishers stamp in payloads.
const publisherID = 1 << 30
