// Command compare measures Herald against the bare baselines the way
// BENCHMARKS.md reports it: the same load on each server in turn, rounds
// interleaved so that a noisy neighbour hurts every server alike, and
// results as per-round ratios.
//
//	go run ./bench/compare -rounds 3 -scenarios fanout,echo
//
// It builds herald and the baselines, starts each as its own process on
// loopback, drives it with herald bench's library in this process, reads
// the server's CPU time from /proc, stops it, and moves on. Herald's echo
// is measured both through publish-to-self ("herald") and through its bare
// /echo ("herald /echo"), each compared with the baselines' /echo. Run it
// from the repository root on an otherwise idle Linux machine.
//
// With -cluster redis or nats it measures cross-node fan-out instead
// (cluster.go): subscribers on one node, API publishing on another,
// builds of Herald named by -trees compared at each of -rates:
//
//	go run ./bench/compare -cluster redis -subscribers 1000 -rates 200,400,600 \
//	    -trees new=.,old=../herald-old -rounds 3 -duration 8s
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/bench"
)

// server is one contestant: how to build and start it, and which bench
// protocol it speaks.
type server struct {
	name string
	// module is the directory of the Go module pkg is built in, relative
	// to the repository root: the baselines live in a module of their own
	// (bench/baseline/go.mod), so that Herald's module does not require
	// the WebSocket libraries only they use.
	module   string
	pkg      string
	protocol string
	args     func(addr string) []string
}

// heraldConfig is the server configuration the comparison runs Herald
// with (see the file for why each setting).
//
//go:embed herald.yaml
var heraldConfig string

var servers = []server{
	{
		name: "herald", module: ".", pkg: "./cmd/herald", protocol: "herald",
		args: func(addr string) []string { return []string{"serve", "--config", heraldConfigFile, "--address", addr} },
	},
	{name: "gobwas", module: baselineModule, pkg: "./gobwas", protocol: "raw", args: rawArgs},
	{name: "gws", module: baselineModule, pkg: "./gws", protocol: "raw", args: rawArgs},
	{name: "gorilla", module: baselineModule, pkg: "./gorilla", protocol: "raw", args: rawArgs},
}

// baselineModule is the baselines' module, relative to the repository root.
const baselineModule = "bench/baseline"

// heraldConfigFile is where run writes heraldConfig.
var heraldConfigFile string

func rawArgs(addr string) []string { return []string{"-addr", addr} }

// measurement is one server's result in one round.
type measurement struct {
	Round    int           `json:"round"`
	Server   string        `json:"server"`
	Scenario string        `json:"scenario"`
	Result   *bench.Result `json:"result"`
}

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	scenarios := flag.String("scenarios", "fanout,echo", "fanout, echo")
	only := flag.String("servers", "herald,gobwas,gws,gorilla", "servers to compare")
	subscribers := flag.Int("subscribers", 10000, "fanout: subscribers")
	rate := flag.Float64("rate", 10, "fanout: publications per second")
	size := flag.Int("size", 64, "fanout: payload bytes")
	echoClients := flag.Int("echo-clients", 1000, "echo: clients")
	sizes := flag.String("sizes", "128,1024,4096", "echo: payload sizes")
	duration := flag.Duration("duration", 10*time.Second, "measured phase per run")
	addr := flag.String("addr", "127.0.0.1:8300", "where the servers listen (cluster: the first node; the others on the next ports)")
	out := flag.String("json", "", "also write every measurement to this file")
	cluster := flag.String("cluster", "", "cluster mode: redis or nats (the local server on 127.0.0.1), or memory (one node, the reference)")
	nodes := flag.Int("nodes", 2, "cluster: herald nodes; subscribers on the last, API publishing on the first")
	trees := flag.String("trees", "herald=.", "cluster: builds to compare, name=source-dir,...")
	rates := flag.String("rates", "200,300,400,600,800", "cluster: publication rates, each a run")
	history := flag.Bool("history", false, "cluster: the bench namespace keeps history (one append per publication)")
	maxP99 := flag.Duration("max-p99", 100*time.Millisecond, "cluster: the p99 bound of a sustainable rate")
	profileDir := flag.String("profile-dir", "", "cluster: save a CPU profile of the subscribers' node per run here")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cluster != "" {
		cc := clusterConfig{
			engine: *cluster, nodes: *nodes, rounds: *rounds, subscribers: *subscribers, size: *size,
			history: *history, duration: *duration, maxP99: *maxP99, profileDir: *profileDir, jsonOut: *out,
		}
		var err error
		if cc.trees, err = parseTrees(*trees); err == nil {
			if cc.rates, err = parseRates(*rates); err == nil {
				cc.basePort, err = portOf(*addr)
			}
		}
		if err == nil {
			err = runCluster(ctx, cc)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, config{
		rounds: *rounds, scenarios: strings.Split(*scenarios, ","), servers: strings.Split(*only, ","),
		subscribers: *subscribers, rate: *rate, size: *size, echoClients: *echoClients,
		sizes: *sizes, duration: *duration, addr: *addr, jsonOut: *out,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

type config struct {
	rounds                         int
	scenarios, servers             []string
	subscribers, size, echoClients int
	rate                           float64
	sizes                          string
	duration                       time.Duration
	addr, jsonOut                  string
}

func run(ctx context.Context, cfg config) error {
	raiseFileLimit()
	dir, err := os.MkdirTemp("", "herald-compare")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	heraldConfigFile = filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(heraldConfigFile, []byte(heraldConfig), 0o600); err != nil {
		return err
	}
	var chosen []server
	for _, s := range servers {
		if slices.Contains(cfg.servers, s.name) {
			fmt.Fprintf(os.Stderr, "building %s in %s\n", s.pkg, s.module)
			build := exec.Command("go", "build", "-o", filepath.Join(dir, s.name), s.pkg)
			build.Dir = s.module
			if b, err := build.CombinedOutput(); err != nil {
				return fmt.Errorf("build %s in %s: %v\n%s", s.pkg, s.module, err, b)
			}
			chosen = append(chosen, s)
		}
	}
	var all []measurement
	for round := 1; round <= cfg.rounds; round++ {
		// Rotate the order each round so no server always runs first
		// (or right after the heaviest).
		order := append(slices.Clone(chosen[(round-1)%len(chosen):]), chosen[:(round-1)%len(chosen)]...)
		for _, scenario := range cfg.scenarios {
			for _, s := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res, err := measure(ctx, dir, s, scenario, cfg)
				if err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", round, scenario, s.name, err)
				}
				for _, r := range res {
					name := s.name
					if s.protocol == "herald" && strings.HasPrefix(r.Name, "echo echo ") {
						// Herald's own /echo: its transport alone, the
						// like-for-like comparison with a baseline's echo.
						name += " /echo"
					}
					all = append(all, measurement{Round: round, Server: name, Scenario: scenario, Result: r})
					fmt.Fprintf(os.Stderr, "round %d %-12s %-22s %s\n", round, name, r.Name, brief(r))
				}
			}
		}
	}
	if cfg.jsonOut != "" {
		if err := writeJSON(cfg.jsonOut, all); err != nil {
			return err
		}
	}
	summarise(os.Stdout, all, cfg.rounds)
	return nil
}

// measure starts s, runs one scenario against it and stops it.
func measure(ctx context.Context, dir string, s server, scenario string, cfg config) ([]*bench.Result, error) {
	cmd := exec.Command(filepath.Join(dir, s.name), s.args(cfg.addr)...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &logs
	if err := ensureFree(cfg.addr); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer stopServer(cmd)
	if err := waitListening(ctx, cfg.addr); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, logs.String())
	}
	bc := bench.Config{
		Scenario: scenario, URL: "ws://" + cfg.addr + "/ws", Protocol: s.protocol,
		Anonymous: true, ServerPID: cmd.Process.Pid, Duration: cfg.duration, Drain: 10 * time.Second,
	}
	switch scenario {
	case "fanout":
		bc.Connections, bc.Rate, bc.Size = cfg.subscribers, cfg.rate, cfg.size
	case "echo":
		bc.Connections = cfg.echoClients
		for _, f := range strings.Split(cfg.sizes, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil {
				return nil, fmt.Errorf("size %q: %w", f, err)
			}
			bc.Sizes = append(bc.Sizes, n)
		}
		// Herald goes both ways: the instant-messaging path (publish to a
		// channel one is subscribed to), reported as "herald", and its bare
		// /echo, reported as "herald /echo". A baseline has only its echo.
		bc.EchoVia = []string{"echo"}
		if s.protocol == "herald" {
			bc.EchoVia = []string{"self", "echo"}
		}
	default:
		return nil, fmt.Errorf("unknown scenario %q", scenario)
	}
	rep, err := bench.Run(ctx, bc)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, logs.String())
	}
	return rep.Results, nil
}

// writeJSON writes every measurement to file, indented.
func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// ensureFree fails when something already listens on addr. A server an
// earlier run left behind would answer in place of the one about to
// start, which would exit at once, and the run would measure the stale
// server while reading the CPU time of the one that exited.
func ensureFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken (a server left by an earlier run?): %w", addr, err)
	}
	return ln.Close()
}

func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// raiseFileLimit lifts this process's (and so the servers') soft limit on
// open files to the hard one: 10,000 subscribers need as many sockets.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func brief(r *bench.Result) string {
	s := fmt.Sprintf("%.0f msg/s, lost %d, p50 %.2f ms, p99 %.2f ms", r.PerSecond, r.Lost, r.Latency.P50, r.Latency.P99)
	if r.CPU != nil {
		s += fmt.Sprintf(", server CPU %.2f µs/msg (%.0f%% of a core)", r.CPU.PerDeliveryUs, r.CPU.Utilisation*100)
	}
	return s
}
