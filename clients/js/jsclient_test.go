package jsclient_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	jsclient "github.com/heraldhq/herald/clients/js"
	"github.com/heraldhq/herald/internal/browsertest"
	"github.com/heraldhq/herald/internal/services"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			println("goleak:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// requireNode skips the test (fails it under CI) unless node and the
// package's development dependencies (npm ci --prefix clients/js) are here.
func requireNode(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("node"); err != nil {
		why = "node is not installed"
	} else {
		for _, dep := range []string{"esbuild", "typescript", "ws"} {
			if _, err := os.Stat(filepath.Join("node_modules", dep)); err != nil {
				why = "the JavaScript client's dependencies are not installed (npm ci --prefix clients/js)"
				break
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("JavaScript client test: %s", why)
	}
	t.Skipf("JavaScript client test skipped: %s", why)
}

// node runs a Node.js command in this directory within timeout, logging its
// output, and fails the test if it fails.
func node(t *testing.T, timeout time.Duration, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if out.Len() > 0 {
		t.Logf("node %s:\n%s", strings.Join(args, " "), out.String())
	}
	if err != nil {
		t.Fatalf("node %s: %v", strings.Join(args, " "), err)
	}
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// herald returns a herald binary built from this repository, once per run.
func herald(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "herald-jsclient-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "herald")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/heraldhq/herald/cmd/herald")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = &buildError{err, out.String()}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build herald: " + e.err.Error() + "\n" + e.out }

// TestBundleFresh rebuilds dist/ into a temporary directory and fails when
// the committed files differ: the sources changed without npm run build.
func TestBundleFresh(t *testing.T) {
	requireNode(t)
	out := t.TempDir()
	node(t, 2*time.Minute, nil, "scripts/build.mjs", "--outdir", out)
	built := files(t, out)
	committed := files(t, "dist")
	for name, b := range built {
		c, ok := committed[name]
		switch {
		case !ok:
			t.Errorf("dist/%s is missing: run npm run build in clients/js and commit dist/", name)
		case !bytes.Equal(b, c):
			t.Errorf("dist/%s is stale: run npm run build in clients/js and commit dist/", name)
		}
	}
	for name := range committed {
		if _, ok := built[name]; !ok {
			t.Errorf("dist/%s is not built from the sources any more: remove it", name)
		}
	}
}

// files reads every file under dir, by slash-separated relative path.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		m[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUnit runs the client's unit tests (npm test without the build, which
// TestBundleFresh covers).
func TestUnit(t *testing.T) {
	requireNode(t)
	node(t, time.Minute, nil, "--test", "test/unit/")
}

// TestIntegration runs the client's integration tests against herald
// servers built from this repository, on the Redis the other tests use.
func TestIntegration(t *testing.T) {
	requireNode(t)
	redis := services.Redis(t)
	node(t, 3*time.Minute, []string{"HERALD_BIN=" + herald(t), "HERALD_TEST_REDIS=" + redis},
		"--test", "--test-concurrency=1", "test/integration/")
}

// TestConformance replays the conformance vectors (conformance/ at the
// repository's root) through the client's JSON and Protobuf codecs, against
// herald servers started with conformance/server.yaml (memory engine).
func TestConformance(t *testing.T) {
	requireNode(t)
	node(t, time.Minute, []string{"HERALD_BIN=" + herald(t)}, "--test", "test/conformance/")
}

// TestBrowser runs the bundle in headless Chromium: two pages chat through
// a herald server, which restarts in the middle.
func TestBrowser(t *testing.T) {
	requireNode(t)
	browsertest.Require(t)
	redis := services.Redis(t)
	browsertest.Run(t, "test/browser/chat.mjs", 2*time.Minute, "HERALD_BIN="+herald(t), "HERALD_TEST_REDIS="+redis)
}

// TestBrowserFallback runs the bundle in headless Chromium behind a proxy
// that refuses every WebSocket upgrade with 400 and forwards everything else,
// streaming (test/browser/fallback.mjs): the client falls back to HTTP
// streaming, chats, and recovers exactly after its server restarts and after
// the proxy cuts its stream; a plain EventSource receives publications; and
// the client restricted to sse sends its commands by POST.
func TestBrowserFallback(t *testing.T) {
	requireNode(t)
	browsertest.Require(t)
	redis := services.Redis(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // for the script's herald server to take
	p := newNoWSProxy(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	browsertest.Run(t, "test/browser/fallback.mjs", 3*time.Minute, "HERALD_BIN="+herald(t), "HERALD_TEST_REDIS="+redis,
		fmt.Sprintf("HERALD_PORT=%d", port), "PROXY_URL="+p.URL)
	if p.refused.Load() == 0 {
		t.Error("the proxy refused no WebSocket upgrade: the fallback was not exercised")
	}
}

// noWSProxy stands between the browser and the server: it answers every
// WebSocket upgrade with 400, as some corporate proxies do, and forwards
// everything else, flushing as it goes so that streams stream. POST
// /__cut ends every request it is forwarding (a network cut, as the
// client sees it).
type noWSProxy struct {
	*httptest.Server
	refused atomic.Int64
	mu      sync.Mutex
	cancels map[*http.Request]context.CancelFunc
}

func newNoWSProxy(t *testing.T, target string) *noWSProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	// A connection of its own for every request: a pooled one may lead to
	// a server that has gone (an earlier test's, on the same port, or this
	// one's before its restart), and a POST sent on it cannot be retried,
	// so the proxy would answer 502 where a browser's own connection would
	// have reached the server.
	rp.Transport = &http.Transport{DisableKeepAlives: true}
	rp.ErrorLog = log.New(io.Discard, "", 0) // the cuts and restarts are on purpose
	p := &noWSProxy{cancels: map[*http.Request]context.CancelFunc{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
			p.refused.Add(1)
			http.Error(w, "no WebSocket here", http.StatusBadRequest)
			return
		case r.URL.Path == "/__cut":
			w.Header().Set("Access-Control-Allow-Origin", "*")
			p.mu.Lock()
			n := len(p.cancels)
			for _, cancel := range p.cancels {
				cancel()
			}
			p.mu.Unlock()
			fmt.Fprint(w, n)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		p.mu.Lock()
		p.cancels[r] = cancel
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.cancels, r)
			p.mu.Unlock()
		}()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(func() {
		p.CloseClientConnections()
		p.Close()
	})
	return p
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(jsclient.Handler())
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/herald.min.js")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(body.Bytes(), jsclient.Bundle()) {
		t.Fatalf("status %d, %d bytes; want 200 and the bundle", res.StatusCode, body.Len())
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !bytes.Contains(jsclient.Bundle(), []byte("herald.v1.json")) {
		t.Error("the bundle does not look like the client")
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	res, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", res.StatusCode)
	}
}
