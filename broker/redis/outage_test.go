package redis_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/logtest"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
)

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, 20*time.Second, func() error {
		if cond() {
			return nil
		}
		return errors.New("waiting for " + what)
	})
}

// commandsFailFast issues n of each kind of command to b, whose Redis is
// unreachable, and checks that they all fail with ErrUnavailable within
// one Timeout: waiting out a timeout, as each did before, would take n of
// them.
func commandsFailFast(t *testing.T, b *redis.Broker, timeout time.Duration) {
	t.Helper()
	const n = 10
	keep := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	info := &broker.ClientInfo{User: "u", Client: "c"}
	start := time.Now()
	for i := range n {
		ch := "fast-" + string(rune('a'+i))
		for name, call := range map[string]func() error{
			"Subscribe": func() error { return b.Subscribe(ctx, ch) },
			"Publish": func() error {
				_, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep)
				return err
			},
			"History":        func() error { _, _, err := b.History(ctx, ch, broker.HistoryOptions{}); return err },
			"AddPresence":    func() error { return b.AddPresence(ctx, ch, info, time.Minute) },
			"RemovePresence": func() error { return b.RemovePresence(ctx, ch, info, true) },
			"Send": func() error {
				_, err := b.Send(ctx, "u", &broker.Publication{Data: []byte("x")}, keep.Stream)
				return err
			},
		} {
			if err := call(); !errors.Is(err, redis.ErrUnavailable) {
				t.Fatalf("%s during the outage: %v, want ErrUnavailable", name, err)
			}
		}
	}
	if d := time.Since(start); d >= timeout {
		t.Fatalf("%d commands took %v to fail, want them all within one Timeout (%v)", 6*n, d, timeout)
	}
}

// TestFailFastWhileDown: once the broker knows its Redis is down, commands
// fail at once rather than each waiting out Options.Timeout (Subscribe
// waited for the subscriber connection) or the dial timeout, and work
// again when Redis is back.
func TestFailFastWhileDown(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	const timeout = 5 * time.Second
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}, Timeout: timeout, HealthCheckInterval: 200 * time.Millisecond})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	waitFor(t, "the broker to see Redis down", func() bool { return errors.Is(b.Ping(ctx), redis.ErrUnavailable) })
	commandsFailFast(t, b, timeout)

	p.Start()
	if n := rec.Reconnects(1, 20*time.Second); n != 1 {
		t.Fatalf("%d reconnects after Redis came back, want 1", n)
	}
	if err := b.Subscribe(ctx, "after"); err != nil {
		t.Fatalf("subscribe after the outage: %v", err)
	}
	if _, _, err := b.Publish(ctx, "after", &broker.Publication{Data: []byte("x")}, broker.PublishOptions{}); err != nil {
		t.Fatalf("publish after the outage: %v", err)
	}
}

// silentServer accepts connections and reads them without ever answering,
// as a Redis behind a network partition looks.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// TestFailFastSilentServer: a server that accepts connections but never
// answers (a partition) is seen as down once the subscriber connection
// gets no reply for two health-check intervals, and commands then fail at
// once instead of each waiting out the read timeout.
func TestFailFastSilentServer(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	b := newBroker(t, redis.Options{Addrs: []string{silentServer(t)}, Timeout: timeout, HealthCheckInterval: 100 * time.Millisecond})
	if err := b.Run(ctx, brokertest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the broker to see the server down", func() bool { return errors.Is(b.Ping(ctx), redis.ErrUnavailable) })
	commandsFailFast(t, b, timeout)
}

// TestSweepLogsOncePerOutage: while Redis is away the presence sweep of
// every channel fails every round; that is one warning when the outage
// starts and one line when it ends, not a line per channel per round.
func TestSweepLogsOncePerOutage(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	var logs logtest.Buffer
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}, Logger: logs.Logger(slog.LevelInfo), HealthCheckInterval: 200 * time.Millisecond})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := b.Subscribe(ctx, "sweep-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	p.Stop()
	waitFor(t, "the sweep to fail", func() bool { return len(logs.Lines("presence sweep")) > 0 })
	// A period on purpose: some twenty failing rounds (the sweep runs every
	// 50 ms) of twenty channels, whose lines are counted below.
	time.Sleep(time.Second)
	p.Start()
	waitFor(t, "the sweep to recover", func() bool { return len(logs.Lines("presence sweep recovered")) > 0 })
	lines := logs.Lines("presence sweep")
	// The warning counts the channels of the round that saw the outage
	// first, which may have been under way when Redis went: not always 20.
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[1], "recovered") {
		t.Fatalf("sweep log lines:\n%s\nwant one warning for the outage and one line for its end", strings.Join(lines, "\n"))
	}
}

// TestReconnectWaitsForCommands: the subscriber connection can be back
// while commands still fail (go-redis stops dialing for a second after
// dial errors); HandleReconnect waits until they work, since the hub
// reads every stream's position when it is called.
func TestReconnectWaitsForCommands(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	px := newProxy(t, p.Addr())
	b := newBroker(t, redis.Options{Addrs: []string{px.addr()}, PoolSize: 1, Timeout: time.Second})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	// New connections are refused, the subscriber connection stays: the
	// first command dials, fails, and go-redis stops dialing.
	px.refuse()
	if _, _, err := b.History(ctx, "ch", broker.HistoryOptions{}); err == nil {
		t.Fatal("history with new connections refused succeeded")
	}
	// go-redis probes the server at once, then every second: a period on
	// purpose, as nothing outside go-redis shows its first probe refused.
	time.Sleep(100 * time.Millisecond)
	// The subscriber connection drops and comes straight back.
	px.accept()
	px.dropAll()
	if n := rec.Reconnects(1, 20*time.Second); n != 1 {
		t.Fatalf("%d reconnects, want 1", n)
	}
	if _, _, err := b.History(ctx, "ch", broker.HistoryOptions{}); err != nil {
		t.Fatalf("history at once after HandleReconnect: %v", err)
	}
}

// proxy forwards TCP connections to a server; it can stop listening
// (new connections are refused) and drop the open ones.
type proxy struct {
	t      *testing.T
	target string
	port   string
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	_, p.port, _ = net.SplitHostPort(p.l.Addr().String())
	t.Cleanup(func() {
		p.refuse()
		p.dropAll()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return "127.0.0.1:" + p.port }

func (p *proxy) listen(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	p.wg.Add(1)
	go p.serve(l)
}

func (p *proxy) serve(l net.Listener) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// refuse stops listening: dials are refused.
func (p *proxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
}

// accept listens again on the same port.
func (p *proxy) accept() { p.listen(p.addr()) }

func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
