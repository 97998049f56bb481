package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/bench"
	ht "github.com/heraldhq/herald/internal/heraldtest"
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
