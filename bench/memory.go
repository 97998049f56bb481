package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Memory is the servers' resident memory around the idle scenario.
type Memory struct {
	Source        string  `json:"source"`
	Before        uint64  `json:"before_bytes"`
	After         uint64  `json:"after_bytes"`
	PerConnection float64 `json:"per_connection_bytes"`
}

// serverRSS reads the server's resident memory: VmRSS of pid from
// /proc, or process_resident_memory_bytes from a /metrics page.
func serverRSS(ctx context.Context, pid int, metricsURL string) (uint64, string, error) {
	if pid > 0 {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, "", fmt.Errorf("bench: server memory: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				return kb * 1024, "VmRSS", err
			}
		}
		return 0, "", fmt.Errorf("bench: no VmRSS for pid %d", pid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("bench: server memory: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return uint64(v), "metrics", err
		}
	}
	return 0, "", fmt.Errorf("bench: %s has no process_resident_memory_bytes", metricsURL)
}

// clusterRSS is the resident memory of every server in pids (their sum), or
// as metricsURL reports it when pids is empty.
func clusterRSS(ctx context.Context, pids []int, metricsURL string) (uint64, string, error) {
	if len(pids) == 0 {
		return serverRSS(ctx, 0, metricsURL)
	}
	var sum uint64
	for _, pid := range pids {
		v, _, err := serverRSS(ctx, pid, "")
		if err != nil {
			return 0, "", err
		}
		sum += v
	}
	return sum, "VmRSS", nil
}

// merge combines two workers' readings of one server into one for conns
// connections in all. Each worker reads "before" when it starts opening its
// own clients, possibly after another worker has opened some, so the lowest
// reading is the baseline; "after" is read while every worker holds its
// clients, and the highest reading counts.
func (m *Memory) merge(o *Memory, conns int) *Memory {
	if m == nil || o == nil {
		if m == nil {
			m = o
		}
		return m
	}
	out := *m
	out.Before, out.After = min(m.Before, o.Before), max(m.After, o.After)
	if conns > 0 {
		out.PerConnection = (float64(out.After) - float64(out.Before)) / float64(conns)
	}
	return &out
}
