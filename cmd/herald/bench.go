package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/bench"
)

var benchHelp = fmt.Sprintf(`Load a Herald server (or a bare baseline server) and measure it.

Scenarios:
  idle      N clients connected and subscribed, held with heartbeats; with
            --server-pid or --metrics-url, server memory per connection
  fanout    N subscribers on one channel, publications at --rate
            (--publish-via client|api), payload --size bytes; with
            --server-pid, server CPU time per delivery; --recover rides
            through node restarts
  channels  N clients each on its own channel plus --hot K shared channels
  echo      round trips at --sizes through /echo and publish-to-self
            (with --server-pid, server CPU time per round trip)
  connect   connection/handshake rate; --storm holds the clients and times
            their reconnection after a server restart

Every payload carries its send time and a sequence number; the report gives
delivered messages/s, loss and duplicates (by offset, or sequence where
there are none), latency p50/p90/p99/p999/max, connect errors by close
code. A live line goes to stderr while it runs and a table at the end,
with warnings in words where the run is not what was asked: clients that
could not connect (and which server limit refused them, and how to lift it
for a benchmark), a publisher that fell short of --rate, latency that kept
climbing (saturation). --json prints the full report (with mergeable
histograms) instead, --plot draws latency over time and its distribution
as SVG, and --csv writes the latency over time for plotting elsewhere.

Runs are bounded: each phase lasts --duration (a ramp step --ramp-step),
then --drain for messages in flight. A server limits connections per
address, so against a loopback target (127.0.0.0/8, localhost) clients are
spread over 127.0.0.2 and up, %d to an address; --source-ips gives the
addresses instead (--source-ips 127.0.0.1 keeps them on one). The client
publisher spreads its publications over one connection per %d/s of --rate
(--publishers), under a server's per-connection publish limit. --workers N
forks N processes that split the clients and merges their results, step by
step with --ramp.

A cluster: give each node's --url (repeated or comma-separated); client i
connects to the i-th node (mod their number) and the publisher to the
first. --server-pid, repeated, reports each node's CPU and memory and their
CPU per delivery; --broker-pid adds the broker's (Redis, NATS) apart.
fanout --recover reconnects every subscriber a node closes (a restart) to
its node, subscribes it from the last offset it received (the channel's
namespace needs history and recovery), counts loss and duplicates by
offset across it, and times each node's outage until all its clients are
back; --publish-via api then fails over between the nodes' APIs with
idempotency keys. bench/cluster/run.sh runs a whole cluster this way.`, bench.PerSourceAddress, bench.PublisherRate)

func benchCommand() *cobra.Command {
	var (
		cfg              bench.Config
		sourceIPs, sizes string
		echoVia          string
		jsonOut          bool
		plot, csvOut     string
		workers          int
		workerRole       string
		quiet            bool
	)
	cmd := &cobra.Command{
		Use:   "bench idle|fanout|channels|echo|connect",
		Short: "Load a server and report throughput, loss and latency",
		Long:  benchHelp,
		Example: `  herald serve --dev &
  herald bench fanout --anonymous --subscribers 2000 --rate 20 --duration 10s
  herald bench fanout --token-secret "$SECRET" --publish-via api --api-key "$KEY" --ramp --ramp-p99 20ms
  herald bench idle --anonymous -n 50000 --server-pid "$(pidof herald)" --workers 4
  herald bench echo --anonymous --sizes 128,1024,4096 --json > echo.json
  herald bench connect --anonymous -n 5000 --storm --duration 60s   # restart the server meanwhile
  herald bench fanout --anonymous -n 60000 --workers 6 --url ws://127.0.0.1:8101/ws,ws://127.0.0.1:8102/ws \
    --publish-via api --api-key "$KEY" --recover --rate 1 --duration 60s   # restart the nodes meanwhile
  herald bench fanout --protocol raw --url ws://127.0.0.1:9000/ --plot fanout.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Scenario = args[0]
			if len(cfg.URLs) > 0 {
				cfg.URL = cfg.URLs[0] // the first node's address decides the source addresses
			}
			var err error
			if sourceIPs != "" {
				if cfg.SourceIPs, err = bench.ParseIPRange(sourceIPs); err != nil {
					return err
				}
			}
			if sizes != "" {
				cfg.Sizes = nil
				for _, s := range strings.Split(sizes, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(s))
					if err != nil || n <= 0 {
						return fmt.Errorf("--sizes %q: want positive byte counts", sizes)
					}
					cfg.Sizes = append(cfg.Sizes, n)
				}
			}
			if echoVia != "" {
				cfg.EchoVia = strings.Split(echoVia, ",")
			}
			if cfg.APIKey == "" {
				cfg.APIKey = os.Getenv("HERALD_API_KEY")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if workerRole != "" {
				return runBenchWorker(ctx, cfg, workerRole, cmd.InOrStdin(), cmd.OutOrStdout())
			}
			if !quiet && !jsonOut {
				cfg.Progress = cmd.ErrOrStderr()
			}
			var rep *bench.Report
			if workers > 1 {
				rep, err = runBenchWorkers(ctx, cfg, workers, cmd.ErrOrStderr())
			} else {
				rep, err = bench.Run(ctx, cfg)
			}
			if err != nil {
				return err
			}
			if plot != "" {
				if err := writeFile(plot, rep.WritePlot); err != nil {
					return err
				}
			}
			if csvOut != "" {
				if err := writeFile(csvOut, rep.WriteCSV); err != nil {
					return err
				}
			}
			if jsonOut {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			rep.WriteTable(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.URLs, "url", []string{"ws://127.0.0.1:8000/ws"}, "WebSocket endpoint; repeated or comma-separated, a cluster's nodes, client i on the i-th (mod their number)")
	f.StringVar(&cfg.Protocol, "protocol", "herald", "herald, or raw for a bare broadcast server (fanout, echo)")
	f.IntVarP(&cfg.Connections, "connections", "n", 100, "clients (subscribers for fanout)")
	f.IntVar(&cfg.Connections, "subscribers", 100, "alias of --connections")
	f.Float64Var(&cfg.Rate, "rate", 10, "publications per second")
	f.IntVar(&cfg.HotChannels, "hot", 1, "channels: shared hot channels every client joins")
	f.Float64Var(&cfg.HotRate, "hot-rate", 1, "channels: publications per second on each hot channel")
	f.IntVar(&cfg.Size, "size", 128, "payload bytes")
	f.StringVar(&sizes, "sizes", "", "echo: payload sizes (default 128,1024,4096)")
	f.StringVar(&echoVia, "echo-via", "", "echo: echo,self (default both; raw: echo)")
	f.StringVar(&cfg.EchoURL, "echo-url", "", "echo endpoint (default: --url with path /echo)")
	f.DurationVar(&cfg.Duration, "duration", 10e9, "length of the measured phase")
	f.DurationVar(&cfg.Drain, "drain", 3e9, "wait for messages in flight after publishing")
	f.StringVar(&cfg.Channel, "channel-prefix", "bench:", "channel names start with this (a run id follows)")
	f.StringVar(&cfg.PublishVia, "publish-via", "client", "client or api")
	f.StringVar(&cfg.APIURL, "api-url", "", "server API base (default: --url's host, /api)")
	f.StringVar(&cfg.APIKey, "api-key", "", "server API key (or HERALD_API_KEY)")
	f.StringVar(&cfg.TokenSecret, "token-secret", "", "HS256 secret: mint a token per client")
	f.BoolVar(&cfg.Anonymous, "anonymous", false, "connect without tokens")
	f.StringVar(&sourceIPs, "source-ips", "", fmt.Sprintf("local addresses to spread clients over (127.0.0.2-127.0.0.40; default on loopback: 127.0.0.2 and up, %d clients each)", bench.PerSourceAddress))
	f.IntVar(&cfg.Publishers, "publishers", 0, fmt.Sprintf("connections the client publisher spreads publications over (default: one per %d/s of --rate)", bench.PublisherRate))
	f.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", 64, "clients connecting at once")
	f.DurationVar(&cfg.Timeout, "timeout", 10e9, "handshake and reply timeout")
	f.BoolVar(&cfg.Compress, "compress", false, "offer permessage-deflate on every WebSocket (the server must have compression enabled to accept it)")
	f.BoolVar(&cfg.Storm, "storm", false, "connect: hold the clients and time their reconnection after a restart")
	f.IntSliceVar(&cfg.ServerPIDs, "server-pid", nil, "read the servers' memory (idle) and CPU time (fanout, echo) from /proc; repeated or comma-separated for a cluster")
	f.IntVar(&cfg.BrokerPID, "broker-pid", 0, "with --server-pid: the broker's (Redis, NATS) CPU time per delivery, apart")
	f.BoolVar(&cfg.Recover, "recover", false, "fanout: reconnect subscribers the server closes to their node, recover from their last offset, and time each node's outage")
	f.StringVar(&cfg.MetricsURL, "metrics-url", "", "idle: read process_resident_memory_bytes from this /metrics")
	f.BoolVar(&cfg.Ramp.Enabled, "ramp", false, "fanout: raise the rate until p99 passes --ramp-p99 or loss appears")
	f.Float64Var(&cfg.Ramp.Start, "ramp-start", 100, "ramp: first rate")
	f.Float64Var(&cfg.Ramp.Factor, "ramp-factor", 1.5, "ramp: rate multiplier per step")
	f.DurationVar(&cfg.Ramp.Step, "ramp-step", 5e9, "ramp: step duration")
	f.DurationVar(&cfg.Ramp.MaxP99, "ramp-p99", 50e6, "ramp: p99 latency bound")
	f.Float64Var(&cfg.Ramp.MaxRate, "ramp-max", 1e6, "ramp: highest rate to try")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	f.StringVar(&plot, "plot", "", "write latency over time and its distribution to this SVG file")
	f.StringVar(&csvOut, "csv", "", "write latency over time to this CSV file (one row per result and second)")
	f.IntVar(&workers, "workers", 1, "split the clients over this many processes")
	f.BoolVarP(&quiet, "quiet", "q", false, "no live progress line")
	f.StringVar(&workerRole, "worker-role", "", "internal: run as a worker")
	f.StringVar(&cfg.RunID, "run-id", "", "internal: channel run id shared by workers")
	f.MarkHidden("worker-role")
	f.MarkHidden("run-id")
	return cmd
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Worker processes speak line by line. A fanout subscriber worker prints
// "ready" once subscribed; then, for each step (one, or one per ramp
// rate), it reads "published N" on stdin, drains, and prints its result of
// the step as one JSON line, until it reads "end". Every worker ends by
// printing its report as one JSON line.

// runBenchWorker is the child side.
func runBenchWorker(ctx context.Context, cfg bench.Config, role string, in io.Reader, out io.Writer) error {
	// The parent holds the worker's standard input open for as long as it
	// wants the worker: the end of it (the parent exited, or was killed
	// without a chance to stop its workers) ends the run at once, instead
	// of when the phase would have.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string)
	go func() {
		defer cancel()
		s := bufio.NewScanner(in)
		for s.Scan() {
			select {
			case lines <- s.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	if role == bench.RoleSubscribers {
		cfg.Role = role
		enc := json.NewEncoder(out)
		cfg.Hooks = bench.WorkerHooks{
			Ready: func() { fmt.Fprintln(out, "ready") },
			Published: func(ctx context.Context) (uint64, error) {
				var line string
				select {
				case line = <-lines:
				case <-ctx.Done():
					return 0, errors.New("bench worker: the parent went away")
				}
				if line == "end" {
					return 0, io.EOF
				}
				n, err := strconv.ParseUint(strings.TrimPrefix(line, "published "), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("bench worker: bad line %q", line)
				}
				return n, nil
			},
			StepDone: func(r *bench.Result) error { return enc.Encode(r) },
		}
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("bench worker: the parent went away")
	}
	return json.NewEncoder(out).Encode(rep)
}

type benchWorker struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

// runBenchWorkers re-executes this program n times with the hidden worker
// flags, splits the clients, and merges the reports. For fanout the
// workers only subscribe and this process publishes once all are ready.
func runBenchWorkers(ctx context.Context, cfg bench.Config, n int, stderr io.Writer) (*bench.Report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if cfg.RunID == "" {
		cfg.RunID = strconv.FormatInt(int64(os.Getpid()), 36) + "w"
	}
	fanout := cfg.Scenario == "fanout"
	role := "all"
	if fanout {
		role = bench.RoleSubscribers
	}
	total := cfg.Connections
	if total <= 0 {
		total = 100
	}
	// Each worker gets its own source addresses, so that together they
	// stay within a server's limits per address as one process would.
	sources := cfg.SourceIPs
	if u, err := url.Parse(cfg.URL); err == nil && len(sources) == 0 {
		sources = bench.LoopbackSources(u.Hostname(), total)
	}
	shares := bench.SplitSources(sources, n)
	var ws []*benchWorker
	defer func() {
		for _, w := range ws {
			w.in.Close()
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	}()
	for i := range n {
		share := total / n
		if i < total%n {
			share++
		}
		args := append(workerArgs(os.Args[1:]), "--worker-role", role, "--run-id", cfg.RunID,
			"--connections", strconv.Itoa(share), "--quiet")
		if len(shares[i]) > 0 {
			args = append(args, "--source-ips", bench.FormatIPs(shares[i]))
		}
		c := exec.CommandContext(ctx, exe, args...)
		c.Stderr = stderr
		in, err := c.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := c.Start(); err != nil {
			return nil, fmt.Errorf("bench: start worker: %w", err)
		}
		lines := bufio.NewScanner(out)
		lines.Buffer(make([]byte, 64<<10), 64<<20)
		ws = append(ws, &benchWorker{cmd: c, in: in, lines: lines})
	}
	var parts []*bench.Report
	if fanout {
		for i, w := range ws {
			if !w.lines.Scan() || w.lines.Text() != "ready" {
				return nil, fmt.Errorf("bench: worker %d failed before subscribing", i)
			}
		}
		pcfg := cfg
		pcfg.Role, pcfg.Connections = bench.RolePublisher, 0
		pcfg.Hooks.Collect = func(ctx context.Context, published uint64) (*bench.Result, error) {
			return collectStep(ws, published)
		}
		pub, err := bench.Run(ctx, pcfg)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			fmt.Fprintln(w.in, "end")
		}
		parts = append(parts, pub)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Go(func() {
			var rep bench.Report
			if !w.lines.Scan() {
				errs[i] = fmt.Errorf("bench: worker %d ended without a report", i)
				return
			}
			if err := json.Unmarshal(w.lines.Bytes(), &rep); err != nil {
				errs[i] = fmt.Errorf("bench: worker %d: %w", i, err)
				return
			}
			mu.Lock()
			parts = append(parts, &rep)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return bench.MergeReports(parts), nil
}

// collectStep tells every subscriber worker how many publications a step
// made and merges their results of it.
func collectStep(ws []*benchWorker, published uint64) (*bench.Result, error) {
	for _, w := range ws {
		fmt.Fprintf(w.in, "published %d\n", published)
	}
	var merged *bench.Result
	for i, w := range ws {
		if !w.lines.Scan() {
			return nil, fmt.Errorf("bench: worker %d ended without its step's result", i)
		}
		var r bench.Result
		if err := json.Unmarshal(w.lines.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("bench: worker %d: %w", i, err)
		}
		if merged == nil {
			merged = &r
			continue
		}
		merged.Merge(&r)
	}
	return merged, nil
}

// workerArgs drops the flags the parent sets per worker.
func workerArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case strings.HasPrefix(a, "-") && (name == "workers" || name == "connections" || name == "n" || name == "subscribers" || name == "json" || name == "plot" || name == "csv" || name == "run-id" || name == "source-ips"):
			if !hasValue && name != "json" && i+1 < len(args) {
				i++
			}
		default:
			out = append(out, a)
		}
	}
	return out
}
