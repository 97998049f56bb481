package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/bench"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
)

// TestBenchWorkersMerge: --workers 2 forks two subscriber processes, the
// parent publishes, and the merged report counts every subscriber once
// and every delivery, with no loss; --plot writes the SVG.
func TestBenchWorkersMerge(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	svg := filepath.Join(t.TempDir(), "out.svg")
	out, code := run(t, nil, "bench", "fanout", "--url", s.WSURL, "--token-secret", ht.Secret, "--channel-prefix", "chat:",
		"-n", "5", "--rate", "40", "--duration", "300ms", "--workers", "2", "--json", "--plot", svg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	r := rep.Results[0]
	if r.Connections != 5 || r.Published == 0 || r.Expected != r.Published*5 || r.Delivered != r.Expected || r.Lost != 0 || r.Histogram.Count() != r.Delivered {
		t.Fatalf("merged: conns %d published %d expected %d delivered %d lost %d hist %d", r.Connections, r.Published, r.Expected, r.Delivered, r.Lost, r.Histogram.Count())
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.HasPrefix(string(b), "<svg") {
		t.Fatalf("plot: %v", err)
	}
}

func TestBenchBadInput(t *testing.T) {
	if out, code := run(t, nil, "bench", "nope", "--anonymous"); code == 0 || !strings.Contains(out, "unknown scenario") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if out, code := run(t, nil, "bench", "fanout", "--anonymous", "--source-ips", "bad"); code == 0 || !strings.Contains(out, "source address") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// helpExample returns the arguments of the first `herald bench` line of
// the command's examples, with the flags in scale replaced.
func helpExample(t *testing.T, scale map[string]string) []string {
	t.Helper()
	for _, line := range strings.Split(benchCommand().Example, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "herald" || f[1] != "bench" {
			continue
		}
		args := f[1:]
		for i := 0; i+1 < len(args); i++ {
			if v, ok := scale[args[i]]; ok {
				args[i+1] = v
				delete(scale, args[i])
			}
		}
		if len(scale) > 0 {
			t.Fatalf("the first example %q has no %v", line, scale)
		}
		return args
	}
	t.Fatal("no bench example")
	return nil
}

// TestBenchHelpExampleAgainstServeDev: the help's first example, at a
// small scale but above what one address and one publisher connection may
// do under the server's default limits (50 new connections at once; 50
// publications/s after a burst of 200), runs clean against a real
// `herald serve --dev`, and --plot and --csv write their files.
func TestBenchHelpExampleAgainstServeDev(t *testing.T) {
	_, addr, _ := startServe(t)
	dir := t.TempDir()
	svg, csvPath := filepath.Join(dir, "run.svg"), filepath.Join(dir, "run.csv")
	args := helpExample(t, map[string]string{"--subscribers": "120", "--rate": "300", "--duration": "1s"})
	if !slices.Contains(args, "fanout") || !slices.Contains(args, "--anonymous") {
		t.Fatalf("the first example changed: %q", args)
	}
	args = append(args, "--url", "ws://"+addr+"/ws", "--json", "--plot", svg, "--csv", csvPath)
	out, code := run(t, nil, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	r := rep.Results[0]
	if r.Connections != 120 || len(r.ConnectErrors) != 0 || r.Errors != 0 || len(r.ErrorCodes) != 0 ||
		r.Published == 0 || r.Delivered != r.Published*120 || r.Lost != 0 {
		t.Fatalf("conns %d (errors %v), published %d (errors %d %v), delivered %d, lost %d",
			r.Connections, r.ConnectErrors, r.Published, r.Errors, r.ErrorCodes, r.Delivered, r.Lost)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "time since start (s)") {
		t.Fatalf("plot: %v", err)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 || !slices.Equal(rows[0], bench.CSVHeader) || rows[1][0] != r.Name {
		t.Fatalf("csv %q: %v", rows, err)
	}
}

// TestBenchExplainsServerLimits: when the server refuses the load for one
// of its limits, the error names the limit and how to lift it.
func TestBenchExplainsServerLimits(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want []string
	}{
		{[]string{"HERALD_LIMITS_CONNECT_RATE_PER_IP=0.001", "HERALD_LIMITS_CONNECT_BURST_PER_IP=2"},
			[]string{"http 429", "limits.connect_rate_per_ip", "HERALD_LIMITS_CONNECT_RATE_PER_IP=-1"}},
		{[]string{"HERALD_LIMITS_MAX_CONNECTIONS_PER_IP=2"},
			[]string{"close 4005", "limits.max_connections_per_ip", "HERALD_LIMITS_MAX_CONNECTIONS_PER_IP="}},
	} {
		_, addr, _ := startServeEnv(t, c.env)
		out, code := run(t, nil, "bench", "fanout", "--anonymous", "-n", "5", "--rate", "10", "--duration", "300ms", "--drain", "300ms",
			"--url", "ws://"+addr+"/ws", "-q")
		if code == 0 {
			t.Fatalf("%v: exit 0: %s", c.env, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: no %q in: %s", c.env, w, out)
			}
		}
	}
}

func TestWorkerArgs(t *testing.T) {
	got := workerArgs([]string{"bench", "fanout", "--workers", "2", "-n", "10", "--source-ips", "127.0.0.2", "--csv=x.csv", "--plot", "p.svg", "--json", "--rate", "5"})
	if want := []string{"bench", "fanout", "--rate", "5"}; !slices.Equal(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
}

// TestBenchWorkersRampOverACluster: --workers 2 with --ramp over two
// nodes on Redis (--url twice): every step of the ramp is merged from both
// workers with nothing lost, the servers' CPU is divided by the
// deliveries with each node listed (--server-pid twice), and the connect
// rate is reported.
func TestBenchWorkersRampOverACluster(t *testing.T) {
	env, nodeEnv := engineEnv(t, "redis", 2)
	nodes := startCluster(t, 2, env, nodeEnv)
	out, code := run(t, nil, "bench", "fanout", "--url", "ws://"+nodes[0].addr+"/ws", "--url", "ws://"+nodes[1].addr+"/ws",
		"--token-secret", ht.Secret, "--channel-prefix", "chat:", "-n", "6", "--workers", "2",
		"--ramp", "--ramp-start", "20", "--ramp-factor", "2", "--ramp-step", "300ms", "--ramp-max", "90", "--ramp-p99", "10s",
		"--server-pid", strconv.Itoa(nodes[0].cmd.Process.Pid), "--server-pid", strconv.Itoa(nodes[1].cmd.Process.Pid), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	r := rep.Results[0]
	if r.Ramp == nil || len(r.Ramp.Steps) != 3 || r.Ramp.MaxRate != 80 {
		t.Fatalf("ramp %+v", r.Ramp)
	}
	var seconds float64 // the steps', one after the other
	for _, s := range r.Ramp.Steps {
		if s.Published == 0 || s.Lost != 0 || s.Duplicates != 0 {
			t.Fatalf("step %+v", s)
		}
		seconds += float64(s.Published*6) / s.PerSecond
	}
	if math.Abs(r.Seconds-seconds) > 0.01*seconds {
		t.Errorf("the whole ramp took %.3fs by its result, the steps %.3fs in all", r.Seconds, seconds)
	}
	if r.Connections != 6 || r.Expected != r.Published*6 || r.Delivered != r.Expected || r.Lost != 0 || r.ConnectRate <= 0 {
		t.Fatalf("merged: conns %d published %d expected %d delivered %d lost %d connect rate %v", r.Connections, r.Published, r.Expected, r.Delivered, r.Lost, r.ConnectRate)
	}
	// A tiny load may take no clock tick of CPU: the division itself is
	// tested in package bench.
	if r.CPU == nil || len(r.CPU.Nodes) != 2 || r.CPU.Nodes[0].RSS == 0 || r.CPU.Nodes[1].PID != nodes[1].cmd.Process.Pid {
		t.Fatalf("cpu %+v", r.CPU)
	}
}

// TestBenchWorkerEndsWithItsParent: a worker whose standard input ends
// (its parent exited, or was killed without stopping it) stops at once,
// in both roles, long before the phase it was running would have ended.
func TestBenchWorkerEndsWithItsParent(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	for _, c := range []struct {
		scenario, role string
		ready          bool // the worker says "ready" once subscribed
	}{
		{"fanout", "subscribers", true},
		{"idle", "all", false},
	} {
		t.Run(c.role, func(t *testing.T) {
			cmd := herald(t, nil, "bench", c.scenario, "--url", s.WSURL, "--token-secret", ht.Secret,
				"--channel-prefix", "chat:", "--duration", "10m", "--worker-role", c.role, "--connections", "3", "--quiet")
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if c.ready {
				lines := bufio.NewScanner(out)
				if !lines.Scan() || lines.Text() != "ready" {
					t.Fatalf("worker: %q, want ready", lines.Text())
				}
			} else {
				wait.For(t, 30*time.Second, func() error {
					subs := 0
					for _, n := range s.Hub.Channels("") {
						subs += n
					}
					if subs < 3 {
						return fmt.Errorf("%d of the worker's 3 clients subscribed", subs)
					}
					return nil
				})
			}
			in.Close()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err == nil {
					t.Error("the worker reported success without its parent")
				}
			case <-time.After(time.Minute):
				t.Fatal("the worker ran on without its parent")
			}
		})
	}
}
