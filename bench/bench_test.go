package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/server"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// base is a tiny, short run against s.
func base(s *ht.Server, scenario string) Config {
	return Config{Scenario: scenario, URL: s.WSURL, TokenSecret: ht.Secret, Connections: 5, Rate: 50,
		Duration: 300 * time.Millisecond, Drain: 5 * time.Second, Channel: "chat:", Size: 200}
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) == 0 {
		t.Fatal("no results")
	}
	return rep
}

// sane checks a delivery scenario's result: everything published arrived
// once, with positive latencies, and the report survives JSON and SVG.
func sane(t *testing.T, r *Result, wantExpected uint64) {
	t.Helper()
	if r.Published == 0 || r.Expected != wantExpected || r.Delivered != r.Expected || r.Lost != 0 || r.Duplicates != 0 || r.Errors != 0 {
		t.Fatalf("%s: published %d expected %d (want %d) delivered %d lost %d dups %d errors %d",
			r.Name, r.Published, r.Expected, wantExpected, r.Delivered, r.Lost, r.Duplicates, r.Errors)
	}
	if r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 || r.Latency.P99 < r.Latency.P50 || r.PerSecond <= 0 {
		t.Fatalf("%s: latency %+v rate %v", r.Name, r.Latency, r.PerSecond)
	}
}

func checkOutputs(t *testing.T, rep *Report) {
	t.Helper()
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Results[0].Histogram.Count() != rep.Results[0].Histogram.Count() {
		t.Fatal("histogram lost in JSON")
	}
	var svg bytes.Buffer
	if err := rep.WritePlot(&svg); err != nil {
		t.Fatal(err)
	}
	validXML(t, svg.Bytes())
	var table bytes.Buffer
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "p99 ms") || !strings.Contains(table.String(), rep.Results[0].Name) {
		t.Fatalf("table:\n%s", table.String())
	}
}

func validXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("invalid SVG: %v", err)
		}
	}
}

func TestFanoutClient(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cfg := base(s, "fanout")
	// The test server runs in this process, so its CPU is ours.
	cfg.ServerPIDs = []int{os.Getpid()}
	rep := run(t, cfg)
	r := rep.Results[0]
	sane(t, r, r.Published*5)
	if r.Connections != 5 {
		t.Fatalf("connections %d", r.Connections)
	}
	if r.CPU == nil || r.CPU.Seconds < 0 || r.CPU.Utilisation < 0 {
		t.Fatalf("server CPU: %+v", r.CPU)
	}
	checkOutputs(t, rep)
}

func TestServerCPU(t *testing.T) {
	m := startCPU([]int{os.Getpid()}, 0)
	deadline := time.Now().Add(200 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	c, err := m.stop(0.2, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// 200 ms of spinning is about 20 ticks; allow for a loaded machine.
	// PerDeliveryUs is Seconds*1e6/1000; compare with a tolerance because
	// that is not bit-for-bit Seconds*1e3 (0.14 s gave 140 against 139.99...).
	if c.Seconds < 0.02 || math.Abs(c.PerDeliveryUs-c.Seconds*1e3) > 1e-9 {
		t.Fatalf("cpu %+v after spinning 200ms", c)
	}
	if c, err := startCPU(nil, 1).stop(1, 1); c != nil || err != nil {
		t.Fatalf("no pid: %+v %v", c, err)
	}
	if _, err := startCPU([]int{1 << 30}, 0).stop(1, 1); err == nil {
		t.Fatal("a missing process measured")
	}
}

// TestClusterCPU: several server PIDs add up, each listed with its
// memory, and the broker's PID is counted apart.
func TestClusterCPU(t *testing.T) {
	pid := os.Getpid()
	m := startCPU([]int{pid, pid}, pid)
	deadline := time.Now().Add(100 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	c, err := m.stop(0.1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 2 || c.Broker == nil || c.Broker.PID != pid || c.Nodes[0].RSS == 0 {
		t.Fatalf("cpu %+v", c)
	}
	// The three readings are of one process, taken one after the other
	// while it runs on: they agree to within a few clock ticks (10 ms).
	if c.Seconds != c.Nodes[0].Seconds+c.Nodes[1].Seconds || math.Abs(c.Broker.Seconds-c.Nodes[0].Seconds) > 0.05 || c.Broker.PerDeliveryUs <= 0 {
		t.Fatalf("cpu %+v, nodes %+v, broker %+v", c, c.Nodes, c.Broker)
	}
}

func TestFanoutAPIAnonymous(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: anonymousHub()})
	cfg := base(s, "fanout")
	cfg.TokenSecret, cfg.Anonymous, cfg.PublishVia, cfg.APIKey = "", true, "api", ht.APIKey
	r := run(t, cfg).Results[0]
	sane(t, r, r.Published*5)
}

func TestChannels(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cfg := base(s, "channels")
	cfg.HotChannels, cfg.HotRate = 2, 20
	r := run(t, cfg).Results[0]
	if r.Expected <= r.Published {
		t.Fatalf("hot channels reach every client: expected %d, published %d", r.Expected, r.Published)
	}
	sane(t, r, r.Expected)
}

func TestEchoBothPaths(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true}})
	cfg := base(s, "echo")
	cfg.Connections, cfg.Sizes, cfg.Duration = 2, []int{128, 4096}, 150*time.Millisecond
	rep := run(t, cfg)
	if len(rep.Results) != 4 {
		t.Fatalf("%d results, want 2 paths × 2 sizes", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Published == 0 || r.Delivered != r.Published || r.Lost != 0 || r.Latency.P50 <= 0 {
			t.Fatalf("%s: published %d delivered %d lost %d p50 %v", r.Name, r.Published, r.Delivered, r.Lost, r.Latency.P50)
		}
	}
	checkOutputs(t, rep)
}

func TestIdleMemoryFromMetrics(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	metrics := httptestMetrics(t, 50<<20)
	cfg := base(s, "idle")
	cfg.MetricsURL = metrics
	r := run(t, cfg).Results[0]
	if r.Connections != 5 || r.Memory == nil || r.Memory.Before != 50<<20 || r.Memory.Source != "metrics" || len(r.Closes) != 0 {
		t.Fatalf("idle: %+v memory %+v", r, r.Memory)
	}
	cfg.MetricsURL, cfg.ServerPIDs = "", []int{1 << 30}
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("a missing pid was not reported")
	}
}

func TestConnectErrorsByCode(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cfg := base(s, "connect")
	r := run(t, cfg).Results[0]
	if r.Connections != 5 || len(r.ConnectErrors) != 0 || r.Latency.P50 <= 0 {
		t.Fatalf("connect: %d conns, errors %v, latency %+v", r.Connections, r.ConnectErrors, r.Latency)
	}
	cfg.TokenSecret = "not-the-server-secret-0123456789abcdef"
	r = run(t, cfg).Results[0]
	if r.Connections != 0 || r.ConnectErrors["error 101"] != 5 {
		t.Fatalf("bad token: %d conns, errors %v", r.Connections, r.ConnectErrors)
	}
}

// TestConnectStorm: a server restart closes every client with 1001 and
// all of them come back.
func TestConnectStorm(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cfg := base(s, "connect")
	cfg.Storm, cfg.Duration = true, 3*time.Second
	ready := make(chan struct{})
	cfg.Hooks.Ready = func() { close(ready) }
	done := make(chan *Report, 1)
	go func() {
		rep, _ := Run(context.Background(), cfg)
		done <- rep
	}()
	<-ready
	s.Restart(ht.Options{})
	r := (<-done).Results[0]
	if r.Connections != 5 || r.Closes["close 1001"] != 5 || r.Reconnected != 5 || r.StormSeconds <= 0 {
		t.Fatalf("storm: closes %v reconnected %d in %v", r.Closes, r.Reconnected, r.StormSeconds)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Scenario: "nope", Anonymous: true},
		{Scenario: "fanout"},
		{Scenario: "fanout", Anonymous: true, URL: "http://x"},
		{Scenario: "idle", Anonymous: true, Protocol: "raw"},
		{Scenario: "fanout", Anonymous: true, PublishVia: "api"},
		{Scenario: "fanout", Anonymous: true, Ramp: Ramp{Factor: 0.5}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	ips, err := ParseIPRange("127.0.0.2-127.0.0.4,10.0.0.1")
	if err != nil || len(ips) != 4 || ips[2].String() != "127.0.0.4" {
		t.Fatalf("%v %v", ips, err)
	}
	for _, bad := range []string{"x", "127.0.0.5-127.0.0.1", ""} {
		if _, err := ParseIPRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestSourceIPs: clients bind the given local addresses.
func TestSourceIPs(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cfg := base(s, "fanout")
	cfg.SourceIPs, _ = ParseIPRange("127.0.0.2-127.0.0.3")
	r := run(t, cfg).Results[0]
	sane(t, r, r.Published*5)
}

// TestPublisherReconnects: a publisher the server disconnects mid-run is
// dialled again, so the run goes on publishing; the close is reported and
// nothing the server accepted is lost.
func TestPublisherReconnects(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cfg := base(s, "fanout")
	cfg.Duration = 2 * time.Second
	go func() {
		// Mid-run: a third of the run's publications accepted.
		err := wait.Until(5*time.Second, func() error {
			if n := s.Hub.Stats().Published; n < 30 {
				return fmt.Errorf("%d publications accepted, want 30 before the disconnect", n)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
			return
		}
		s.MustAPI("disconnect", map[string]any{"user": "bench-" + strconv.Itoa(publisherID)})
	}()
	r := run(t, cfg).Results[0]
	closes := 0
	for k, n := range r.ErrorCodes {
		if strings.HasPrefix(k, "publisher close") {
			closes += n
		}
	}
	// At 50/s for 2 s, a publisher that stayed down would have delivered
	// about a third; one that came back loses at most the publications
	// in flight when it was closed.
	if closes != 1 || r.Published < 80 || r.Delivered < (r.Published-5)*5 || r.Lost > 2*5 {
		t.Fatalf("closes %v published %d delivered %d lost %d errors %d", r.ErrorCodes, r.Published, r.Delivered, r.Lost, r.Errors)
	}
}

// TestPublisherRedialFails: while the server stays unreachable every
// publication is an error and every redial is reported, but the closed
// connection's own close and error replies are counted once.
func TestPublisherRedialFails(t *testing.T) {
	dead := &conn{done: make(chan struct{}), errCodes: map[string]int{"error 110": 2}}
	dead.cmdErrors.Store(2)
	close(dead.done)
	p := &clientPublisher{c: dead, dial: func() (*conn, error) { return nil, errors.New("refused") }}
	for range 3 {
		p.publish("ch", []byte(`1`))
	}
	codes := p.errorCodes()
	if got := p.wait(); got != 3+2 {
		t.Fatalf("errors %d, want 3 failed publications + 2 error replies", got)
	}
	if codes["publisher network"] != 1 || codes["error 110"] != 2 || codes["publisher redial"] != 3 {
		t.Fatalf("codes %v", codes)
	}
}
