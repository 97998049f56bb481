package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	jsclient "github.com/heraldhq/herald/clients/js"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
)

// TestMain doubles as the herald binary: tests run the test executable with
// HERALD_TEST_MAIN=1 to exercise the real main, signals and exit codes.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func herald(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "HERALD_TEST_MAIN=1"), env...)
	return cmd
}

func run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	out, err := herald(t, env, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("limits:\n  max_message_size: -5\ntoken:\n  hmac_secret: s3cret-s3cret-s3cret-s3cret-s3cret-s3cret\n"), 0o600)
	out, code := run(t, nil, "config", "check", bad)
	if code != 2 || !strings.Contains(out, "limits.max_message_size") {
		t.Fatalf("exit %d, output %q", code, out)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("adress: :8000\n"), 0o600)
	if out, code := run(t, nil, "config", "check", unknown); code != 2 || !strings.Contains(out, "adress") {
		t.Fatalf("unknown key: exit %d, output %q", code, out)
	}
	if out, code := run(t, nil, "config", "check", filepath.Join(dir, "missing.yaml")); code != 2 {
		t.Fatalf("missing file: exit %d, output %q", code, out)
	}
}

func TestConfigInitWritesAValidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.yaml")
	if out, code := run(t, nil, "config", "init", path); code != 0 {
		t.Fatalf("init: exit %d %q", code, out)
	}
	if _, code := run(t, nil, "config", "init", path); code == 0 {
		t.Fatal("init overwrote an existing file without --force")
	}
	if out, code := run(t, []string{"HERALD_TOKEN_HMAC_SECRET=0123456789abcdef0123456789abcdef"}, "config", "check", path); code != 0 {
		t.Fatalf("check of the default file: exit %d %q", code, out)
	}
	if out, code := run(t, nil, "config", "check", path); code != 2 || !strings.Contains(out, "token.hmac_secret") {
		t.Fatalf("default file without a secret: exit %d %q", code, out)
	}
}

// startServe runs `herald serve --dev` on a random port and returns the
// process, its address and its API key.
func startServe(t *testing.T) (*exec.Cmd, string, string) {
	t.Helper()
	return startServeEnv(t, nil)
}

// startServeEnv is startServe with extra environment variables. The
// server runs in a directory of its own, where it keeps its key file.
func startServeEnv(t *testing.T, env []string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := herald(t, env, "serve", "--dev", "--address", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	keyRe := regexp.MustCompile(`^export HERALD_API_KEY=(\S+)$`)
	addrRe := regexp.MustCompile(`address=(\S+)`)
	var key, addr string
	sc := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for (key == "" || addr == "") && sc.Scan() {
		if m := keyRe.FindStringSubmatch(sc.Text()); m != nil {
			key = m[1]
		}
		if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if key == "" || addr == "" {
		t.Fatalf("serve did not start (key %q, addr %q)", key, addr)
	}
	logs := &syncBuffer{}
	serveLogs.Store(cmd, logs)
	t.Cleanup(func() { serveLogs.Delete(cmd) })
	go io.Copy(logs, stderr)
	return cmd, addr, key
}

// serveLogs holds what each herald serve of startServeEnv logged after its
// start, by *exec.Cmd.
var serveLogs sync.Map

// waitLog waits until the herald serve of cmd has logged a line with s.
func waitLog(t *testing.T, cmd *exec.Cmd, s string) {
	t.Helper()
	v, _ := serveLogs.Load(cmd)
	logs := v.(*syncBuffer)
	wait.For(t, 5*time.Second, func() error {
		if !strings.Contains(logs.String(), s) {
			return fmt.Errorf("no %q in the log:\n%s", s, logs.String())
		}
		return nil
	})
}

func TestServeDevAndGracefulSignal(t *testing.T) {
	cmd, addr, key := startServe(t)
	c, _ := ht.Connect(t, "ws://"+addr+"/ws", "")
	c.Call(map[string]any{"type": "subscribe", "channel": "any:room"})

	status, body := apiPost(t, addr, key, "publish", `{"channel":"any:room","data":{"x":1}}`)
	if status != 200 || !strings.Contains(body, `"offset":1`) {
		t.Fatalf("publish through the API: %d %s", status, body)
	}
	c.Messages("any:room", 1)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.ExpectClose(1001)
	if err := waitExit(cmd, 10*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func TestServeSecondSignalExitsAtOnce(t *testing.T) {
	cmd, addr, _ := startServe(t)
	// A client that never answers the close frame keeps the drain waiting.
	raw := ht.DialRaw(t, addr, "/ws", nil)
	raw.WriteText([]byte(`{"id":1,"type":"connect"}`))
	if _, err := raw.ReadFrame(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	// The drain has started once the client is told to go (a disconnect
	// push with code 1001 before the close frame).
	if f, err := raw.ReadFrame(5 * time.Second); err != nil || !strings.Contains(string(f.Payload), `"code":1001`) {
		t.Fatalf("after the first signal: %q %v, want the 1001 disconnect", f.Payload, err)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := waitExit(cmd, 3*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("second signal: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("second signal took %v", time.Since(start))
	}
}

func TestServeInvalidConfigExits2(t *testing.T) {
	out, code := run(t, []string{"HERALD_PING_INTERVAL=-1s"}, "serve", "--dev", "--address", "127.0.0.1:0")
	if code != 2 || !strings.Contains(out, "ping_interval") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

func waitExit(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return context.DeadlineExceeded
	}
}

func apiPost(t *testing.T, addr, key, method, body string) (int, string) {
	t.Helper()
	req, _ := newRequest("http://"+addr+"/api/"+method, key, body)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestServePages: serve mounts /metrics unless turned off, the demo chat in
// dev mode, and the admin UI only when a password is configured.
func TestServePages(t *testing.T) {
	get := func(addr, path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const password = "admin-password-0123456789"
	_, addr, _ := startServeEnv(t, []string{"HERALD_ADMIN_PASSWORD=" + password})
	if code, body := get(addr, "/metrics", ""); code != 200 || !strings.Contains(body, "herald_connections ") || !strings.Contains(body, "herald_build_info") {
		t.Fatalf("/metrics: %d %.200s", code, body)
	}
	if code, _ := get(addr, "/demo/", ""); code != 200 {
		t.Fatalf("/demo/ in dev mode: %d", code)
	}
	// The page runs the JavaScript client this binary embeds.
	if code, body := get(addr, "/demo/herald.min.js", ""); code != 200 || body != string(jsclient.Bundle()) {
		t.Fatalf("/demo/herald.min.js in dev mode: %d, %d bytes, want the %d of the embedded bundle", code, len(body), len(jsclient.Bundle()))
	}
	if code, _ := get(addr, "/admin/", ""); code != http.StatusSeeOther {
		t.Fatalf("/admin/ without a session: %d, want a redirect to the login", code)
	}
	if code, body := get(addr, "/admin/api/nodes", "Bearer "+password); code != 200 || !strings.Contains(body, "published") {
		t.Fatalf("/admin/api/nodes: %d %.200s", code, body)
	}

	_, plain, _ := startServeEnv(t, []string{"HERALD_METRICS_ENABLED=false"})
	for _, path := range []string{"/metrics", "/admin/"} {
		if code, _ := get(plain, path, ""); code != http.StatusNotFound {
			t.Errorf("%s when not configured: %d, want 404", path, code)
		}
	}
}
