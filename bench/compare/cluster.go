package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/bench"
)

// Cluster mode measures the path every cluster user takes: subscribers on
// node B, publications through the server API of node A, carried between
// them by Redis or NATS. Each build of Herald named by -trees runs the same
// rates in turn, rounds interleaved and the order rotated, as in the
// comparison with the baselines. CPU time is read from /proc for every
// node and for the broker's process, over the phase from the subscribers'
// readiness to the last delivery, so it counts what the publications cost
// and not the subscribers' connecting. Engine "memory" is one node, which
// both serves the API and holds the subscribers: the single-node
// reference for node B's cost.

// clusterConfig is one cluster comparison.
type clusterConfig struct {
	engine      string // redis, nats or memory
	nodes       int
	trees       []tree
	rates       []float64
	rounds      int
	subscribers int
	size        int
	history     bool
	duration    time.Duration
	maxP99      time.Duration
	basePort    int
	profileDir  string // when set, a CPU profile of node B per run
	jsonOut     string
}

// tree is one build of Herald: a name for the tables and the source tree
// it is built from.
type tree struct{ name, dir string }

// parseTrees reads -trees: name=dir pairs separated by commas.
func parseTrees(s string) ([]tree, error) {
	var out []tree
	for _, f := range strings.Split(s, ",") {
		name, dir, ok := strings.Cut(f, "=")
		if !ok || name == "" || dir == "" {
			return nil, fmt.Errorf("tree %q: want name=dir", f)
		}
		if slices.ContainsFunc(out, func(t tree) bool { return t.name == name }) {
			return nil, fmt.Errorf("tree %q named twice", name)
		}
		out = append(out, tree{name: name, dir: dir})
	}
	return out, nil
}

// parseRates reads -rates: publications per second, ascending.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("rate %q: want a positive number", f)
		}
		out = append(out, r)
	}
	slices.Sort(out)
	return out, nil
}

// clusterRun is one build at one rate in one round.
type clusterRun struct {
	Round     int     `json:"round"`
	Tree      string  `json:"tree"`
	Rate      float64 `json:"rate"`
	Published uint64  `json:"published"`
	Requested uint64  `json:"requested"`
	Errors    uint64  `json:"errors"`
	Delivered uint64  `json:"delivered"`
	Lost      uint64  `json:"lost"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Seconds   float64 `json:"seconds"` // wall time CPU was measured over
	// CPU seconds over the phase: per node (A first, the subscribers'
	// node B last) and of the broker's process.
	NodeCPU   []float64 `json:"node_cpu_s"`
	BrokerCPU float64   `json:"broker_cpu_s"`
}

// passed reports whether the run met the bound of a sustainable rate: the
// full rate published without errors, nothing lost, p99 within maxP99.
func (r clusterRun) passed(maxP99 time.Duration) bool {
	return r.Lost == 0 && r.Errors == 0 && r.Requested > 0 &&
		float64(r.Published) >= 0.99*float64(r.Requested) &&
		r.P99 <= float64(maxP99.Milliseconds())
}

// perDelivery is CPU seconds in microseconds per delivery.
func (r clusterRun) perDelivery(seconds float64) float64 {
	if r.Delivered == 0 {
		return 0
	}
	return seconds * 1e6 / float64(r.Delivered)
}

// total is the CPU of every node and the broker.
func (r clusterRun) total() float64 {
	s := r.BrokerCPU
	for _, c := range r.NodeCPU {
		s += c
	}
	return s
}

// nodeB is the CPU of the subscribers' node.
func (r clusterRun) nodeB() float64 { return r.NodeCPU[len(r.NodeCPU)-1] }

func runCluster(ctx context.Context, cfg clusterConfig) error {
	raiseFileLimit()
	if cfg.engine == "memory" {
		cfg.nodes = 1
	}
	dir, err := os.MkdirTemp("", "herald-compare")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	conf, err := clusterHeraldConfig(cfg.history)
	if err != nil {
		return err
	}
	confFile := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return err
	}
	bins := map[string]string{}
	for _, t := range cfg.trees {
		bin := filepath.Join(dir, "herald-"+t.name)
		fmt.Fprintf(os.Stderr, "building %s from %s\n", t.name, t.dir)
		build := exec.Command("go", "build", "-o", bin, "./cmd/herald")
		build.Dir = t.dir
		if b, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", t.name, err, b)
		}
		bins[t.name] = bin
	}
	brokerPID := 0
	if cfg.engine != "memory" {
		if brokerPID, err = findBrokerPID(cfg.engine); err != nil {
			return err
		}
	}
	var all []clusterRun
	for round := 1; round <= cfg.rounds; round++ {
		k := (round - 1) % len(cfg.trees)
		order := append(slices.Clone(cfg.trees[k:]), cfg.trees[:k]...)
		for _, rate := range cfg.rates {
			for _, t := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				run, err := clusterMeasure(ctx, cfg, bins[t.name], confFile, brokerPID, round, t.name, rate)
				if err != nil {
					return fmt.Errorf("round %d, %s, %g/s: %w", round, t.name, rate, err)
				}
				all = append(all, run)
				fmt.Fprintf(os.Stderr, "round %d %-8s %6g/s  %s\n", round, t.name, rate, briefRun(run, cfg.maxP99))
			}
		}
	}
	if cfg.jsonOut != "" {
		if err := writeJSON(cfg.jsonOut, all); err != nil {
			return err
		}
	}
	summariseCluster(os.Stdout, cfg, all)
	return nil
}

// clusterHeraldConfig is the comparison's configuration, with the bench
// namespace's history and recovery removed unless history is wanted.
func clusterHeraldConfig(history bool) (string, error) {
	if history {
		return heraldConfig, nil
	}
	const lines = "    history_size: 100\n    history_ttl: 1h\n    recover: true\n"
	if !strings.Contains(heraldConfig, lines) {
		return "", fmt.Errorf("herald.yaml: the bench namespace's history lines changed; update clusterHeraldConfig")
	}
	return strings.Replace(heraldConfig, lines, "", 1), nil
}

// findBrokerPID finds the local broker's process in /proc by its command
// name: redis-server or nats-server. With several, none is chosen.
func findBrokerPID(engine string) (int, error) {
	want := map[string]string{"redis": "redis-server", "nats": "nats-server"}[engine]
	if want == "" {
		return 0, fmt.Errorf("engine %q: want redis, nats or memory", engine)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == want {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("want one %s process on this machine, found %d", want, len(found))
	}
	return found[0], nil
}

// cpuOf reads the CPU seconds of each pid; a pid of 0 reads as 0.
func cpuOf(pids []int) ([]float64, error) {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		if pid == 0 {
			continue
		}
		var err error
		if out[i], err = bench.ProcessCPU(pid); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// clusterAPIKey authenticates the publisher with the nodes it starts.
const clusterAPIKey = "compare-cluster-api-key-0123456789"

// clusterMeasure starts the nodes, runs one rate and stops them. The
// subscribers connect to the last node and the API publisher talks to the
// first; each run has a prefix of its own in the broker, so that nothing
// of an earlier run (or of another program on the same broker) reaches it.
func clusterMeasure(ctx context.Context, cfg clusterConfig, bin, confFile string, brokerPID, round int, name string, rate float64) (clusterRun, error) {
	run := clusterRun{Round: round, Tree: name, Rate: rate}
	prefix := fmt.Sprintf("cmp%d-%d-%s-%g", os.Getpid(), round, name, rate)
	addrs := make([]string, cfg.nodes)
	pids := make([]int, cfg.nodes)
	var logs []*strings.Builder
	for i := range cfg.nodes {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", cfg.basePort+i)
		args := []string{"serve", "--config", confFile, "--address", addrs[i], "--node-name", fmt.Sprintf("node-%d", i+1)}
		env := append(os.Environ(), "HERALD_API_KEYS="+clusterAPIKey)
		switch cfg.engine {
		case "redis":
			args = append(args, "--broker", "redis", "--redis", "127.0.0.1:6379")
			env = append(env, "HERALD_BROKER_REDIS_PREFIX="+prefix)
		case "nats":
			args = append(args, "--broker", "nats")
			env = append(env, "HERALD_BROKER_NATS_PREFIX="+prefix, "HERALD_BROKER_NATS_URL=nats://127.0.0.1:4222")
		}
		if i == cfg.nodes-1 && cfg.profileDir != "" {
			args = append(args, "--pprof", fmt.Sprintf("127.0.0.1:%d", cfg.basePort+100))
		}
		if err := ensureFree(addrs[i]); err != nil {
			return run, err
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		l := &strings.Builder{}
		logs = append(logs, l)
		cmd.Stdout, cmd.Stderr = io.Discard, l
		if err := cmd.Start(); err != nil {
			return run, err
		}
		pids[i] = cmd.Process.Pid
		defer stopServer(cmd)
	}
	for i, a := range addrs {
		if err := waitListening(ctx, a); err != nil {
			return run, fmt.Errorf("node %d: %w\n%s", i+1, err, logs[i].String())
		}
	}
	pids = append(pids, brokerPID)
	base := bench.Config{
		Scenario: "fanout", Anonymous: true, Size: cfg.size, RunID: prefix,
		URL: "ws://" + addrs[len(addrs)-1] + "/ws", Drain: 10 * time.Second,
	}
	ready := make(chan struct{})
	published := make(chan uint64, 1)
	subCfg := base
	subCfg.Role, subCfg.Connections = bench.RoleSubscribers, cfg.subscribers
	// One step: the subscribers' result of it arrives through StepDone,
	// and the next Published ends the run.
	var step *bench.Result
	stepped := false
	subCfg.Hooks = bench.WorkerHooks{
		Ready: func() { close(ready) },
		Published: func(ctx context.Context) (uint64, error) {
			if stepped {
				return 0, io.EOF
			}
			stepped = true
			select {
			case n := <-published:
				return n, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		},
		StepDone: func(r *bench.Result) error {
			step = r
			return nil
		},
	}
	type outcome struct {
		rep *bench.Report
		err error
	}
	subDone := make(chan outcome, 1)
	go func() {
		rep, err := bench.Run(ctx, subCfg)
		subDone <- outcome{rep, err}
	}()
	select {
	case <-ready:
	case o := <-subDone:
		return run, fmt.Errorf("subscribers: %v", o.err)
	}
	cpu0, err := cpuOf(pids)
	if err != nil {
		return run, err
	}
	t0 := time.Now()
	if cfg.profileDir != "" {
		kind := "live"
		if cfg.history {
			kind = "history"
		}
		go profile(ctx, cfg, fmt.Sprintf("r%d-%s-%s-%s-%g.pprof", round, name, cfg.engine, kind, rate))
	}
	pubCfg := base
	pubCfg.Role, pubCfg.Rate, pubCfg.Duration = bench.RolePublisher, rate, cfg.duration
	pubCfg.PublishVia, pubCfg.APIKey, pubCfg.APIURL = "api", clusterAPIKey, "http://"+addrs[0]+"/api"
	prep, err := bench.Run(ctx, pubCfg)
	if err != nil {
		published <- 0
		<-subDone
		return run, fmt.Errorf("publisher: %w", err)
	}
	pr := prep.Results[0]
	published <- pr.Published
	o := <-subDone
	if o.err != nil {
		return run, fmt.Errorf("subscribers: %w", o.err)
	}
	cpu1, err := cpuOf(pids)
	if err != nil {
		return run, err
	}
	run.Seconds = time.Since(t0).Seconds()
	sr := step
	if sr == nil {
		return run, errors.New("subscribers: no result for the step")
	}
	run.Published, run.Requested, run.Errors = pr.Published, pr.Requested, pr.Errors
	run.Delivered, run.Lost = sr.Delivered, sr.Lost
	run.P50, run.P99 = sr.Latency.P50, sr.Latency.P99
	for i := range cfg.nodes {
		run.NodeCPU = append(run.NodeCPU, cpu1[i]-cpu0[i])
	}
	run.BrokerCPU = cpu1[cfg.nodes] - cpu0[cfg.nodes]
	return run, nil
}

// profile saves a CPU profile of node B over the middle half of the
// publishing phase.
func profile(ctx context.Context, cfg clusterConfig, file string) {
	select {
	case <-time.After(cfg.duration / 4):
	case <-ctx.Done():
		return
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", cfg.basePort+100, max(1, int(cfg.duration.Seconds()/2)))
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode == http.StatusOK {
		err = os.WriteFile(filepath.Join(cfg.profileDir, file), b, 0o644)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "profile:", resp.Status, err)
	}
}

// stopServer ends a server with SIGTERM, then SIGKILL after 15 s.
func stopServer(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func briefRun(r clusterRun, maxP99 time.Duration) string {
	verdict := "FAIL"
	if r.passed(maxP99) {
		verdict = "pass"
	}
	return fmt.Sprintf("%s published %d/%d, lost %d, p50 %.1f ms, p99 %.1f ms, CPU µs/delivery: node B %.2f, all %.2f (broker %.2f)",
		verdict, r.Published, r.Requested, r.Lost, r.P50, r.P99,
		r.perDelivery(r.nodeB()), r.perDelivery(r.total()), r.perDelivery(r.BrokerCPU))
}

// summariseCluster prints, per build and rate, medians and ranges over the
// rounds; each round's highest sustainable rate per build; and, with two
// builds or more, the first build's CPU per delivery over each other's,
// paired within rounds.
func summariseCluster(w io.Writer, cfg clusterConfig, all []clusterRun) {
	hist := "no history"
	if cfg.history {
		hist = "history"
	}
	fmt.Fprintf(w, "\n### %s, %d node(s), %d subscribers on the last, API publishing on the first, %d B, %s, %d rounds\n\n",
		cfg.engine, cfg.nodes, cfg.subscribers, cfg.size, hist, cfg.rounds)
	fmt.Fprintln(w, "| build | rate/s | passed | p50 ms | p99 ms | node B CPU µs/delivery | all CPU µs/delivery | broker CPU µs/delivery | deliveries per CPU-second (all) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, t := range cfg.trees {
		for _, rate := range cfg.rates {
			var runs []clusterRun
			for _, r := range all {
				if r.Tree == t.name && r.Rate == rate {
					runs = append(runs, r)
				}
			}
			if len(runs) == 0 {
				continue
			}
			col := func(f func(clusterRun) float64) []float64 {
				out := make([]float64, len(runs))
				for i, r := range runs {
					out[i] = f(r)
				}
				return out
			}
			passed := 0
			for _, r := range runs {
				if r.passed(cfg.maxP99) {
					passed++
				}
			}
			fmt.Fprintf(w, "| %s | %g | %d/%d | %s | %s | %s | %s | %s | %s |\n", t.name, rate, passed, len(runs),
				spread(col(func(r clusterRun) float64 { return r.P50 }), "%.1f"),
				spread(col(func(r clusterRun) float64 { return r.P99 }), "%.1f"),
				spread(col(func(r clusterRun) float64 { return r.perDelivery(r.nodeB()) }), "%.2f"),
				spread(col(func(r clusterRun) float64 { return r.perDelivery(r.total()) }), "%.2f"),
				spread(col(func(r clusterRun) float64 { return r.perDelivery(r.BrokerCPU) }), "%.2f"),
				spread(col(func(r clusterRun) float64 {
					if r.total() == 0 {
						return 0
					}
					return float64(r.Delivered) / r.total() / 1000
				}), "%.0f k"))
		}
	}
	fmt.Fprintf(w, "\nHighest rate per round with no loss, the full rate published and p99 ≤ %v:\n\n", cfg.maxP99)
	fmt.Fprintf(w, "| round | %s |\n|---|%s\n", strings.Join(treeNames(cfg.trees), " | "), strings.Repeat("---|", len(cfg.trees)))
	for round := 1; round <= cfg.rounds; round++ {
		var cells []string
		for _, t := range cfg.trees {
			cells = append(cells, maxRate(all, round, t.name, cfg.maxP99))
		}
		fmt.Fprintf(w, "| %d | %s |\n", round, strings.Join(cells, " | "))
	}
	for _, t := range cfg.trees[min(1, len(cfg.trees)):] {
		first := cfg.trees[0].name
		for _, rate := range cfg.rates {
			var ratios []float64
			for _, a := range all {
				for _, b := range all {
					if a.Tree == first && b.Tree == t.name && a.Round == b.Round && a.Rate == rate && b.Rate == rate &&
						b.perDelivery(b.nodeB()) > 0 {
						ratios = append(ratios, a.perDelivery(a.nodeB())/b.perDelivery(b.nodeB()))
					}
				}
			}
			fmt.Fprintf(w, "\n%s ÷ %s at %g/s, node B CPU per delivery, per round: %s", first, t.name, rate, spread(ratios, "%.2f×"))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func treeNames(ts []tree) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.name
	}
	return out
}

// maxRate is the highest rate a build passed in a round, below its first
// failure ("< lowest" when the lowest failed, "≥ highest" when none did).
func maxRate(all []clusterRun, round int, name string, maxP99 time.Duration) string {
	var runs []clusterRun
	for _, r := range all {
		if r.Round == round && r.Tree == name {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return "–"
	}
	slices.SortFunc(runs, func(a, b clusterRun) int { return int(a.Rate - b.Rate) })
	best := ""
	for _, r := range runs {
		if !r.passed(maxP99) {
			break
		}
		best = strconv.FormatFloat(r.Rate, 'f', -1, 64)
	}
	switch {
	case best == "":
		return "< " + strconv.FormatFloat(runs[0].Rate, 'f', -1, 64)
	case runs[len(runs)-1].passed(maxP99) && best == strconv.FormatFloat(runs[len(runs)-1].Rate, 'f', -1, 64):
		return "≥ " + best
	}
	return best
}

// portOf is the port of host:port, where the first node listens; the
// others take the ports after it.
func portOf(addr string) (int, error) {
	_, p, ok := strings.Cut(addr, ":")
	port, err := strconv.Atoi(p)
	if !ok || err != nil || port <= 0 || port > 65000 {
		return 0, fmt.Errorf("-addr %q: want 127.0.0.1:port", addr)
	}
	return port, nil
}
