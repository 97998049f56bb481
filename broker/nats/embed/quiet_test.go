package embed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/logtest"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
)

// TestClusterStartIsQuiet starts a two-server cluster one server after the
// other, so that the first retries its route to the second meanwhile: at
// info level nothing reaches the logger until the cluster serves, and
// nothing reaches stderr at all; at debug level the banner and the route
// errors are there.
func TestClusterStartIsQuiet(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	restored := false
	restore := func() {
		if !restored {
			restored = true
			os.Stderr = stderr
			w.Close()
		}
	}
	defer restore()
	written := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		written <- string(b)
	}()

	peers := []string{
		"127.0.0.1:" + strconv.Itoa(services.FreePort(t)),
		"127.0.0.1:" + strconv.Itoa(services.FreePort(t)),
	}
	var logs [2]logtest.Buffer
	start := func(i int) *Server {
		t.Helper()
		_, port, _ := strings.Cut(peers[i], ":")
		p, _ := strconv.Atoi(port)
		s, err := Start(Options{
			Dir: t.TempDir(), ClusterHost: "127.0.0.1", ClusterPort: p, Peers: peers,
			Logger: logs[i].Logger(slog.LevelDebug),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		return s
	}
	first := start(0)
	waitLog(t, &logs[0], "Error trying to connect to route")
	second := start(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range []*Server{first, second} {
		if err := s.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// What the start logged; shutting one server down makes the other
	// warn that its peer is away, as it should.
	var started [2]string
	for i := range logs {
		started[i] = logs[i].String()
	}
	first.Shutdown()
	second.Shutdown()
	restore()
	if out := <-written; out != "" {
		t.Errorf("written to stderr:\n%s", out)
	}
	for i, log := range started {
		var loud []string
		for _, line := range strings.Split(log, "\n") {
			if !strings.Contains(line, "level=DEBUG") && line != "" {
				loud = append(loud, line)
			}
		}
		if len(loud) > 0 {
			t.Errorf("server %d logged at info level or above while starting:\n%s", i, strings.Join(loud, "\n"))
		}
		if !strings.Contains(log, "Starting nats-server") {
			t.Errorf("server %d: no banner at debug level:\n%s", i, log)
		}
	}
	if !strings.Contains(started[0], "level=DEBUG msg=\"Error trying to connect to route") {
		t.Errorf("the first server's route errors are not at debug level:\n%s", started[0])
	}
}

// waitLog waits until b holds a line with s.
func waitLog(t *testing.T, b *logtest.Buffer, s string) {
	t.Helper()
	wait.For(t, 10*time.Second, func() error {
		if len(b.Lines(s)) == 0 {
			return fmt.Errorf("no %q in the log:\n%s", s, b.String())
		}
		return nil
	})
}
