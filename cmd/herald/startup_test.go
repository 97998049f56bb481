package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/logtest"
)

// secretEnv is what docs/DEPLOY.md's docker run amounts to: a token
// secret and an API key, no file.
var secretEnv = []string{"HERALD_TOKEN_HMAC_SECRET=" + ht.Secret, "HERALD_API_KEYS=" + ht.APIKey}

// launch starts herald with args in dir (a new temporary directory when
// ""), its output collected, and waits until the output holds until.
func launch(t *testing.T, dir string, env []string, until string, args ...string) (*os.Process, *syncBuffer) {
	t.Helper()
	cmd := herald(t, env, args...)
	if dir == "" {
		dir = t.TempDir()
	}
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	ht.Eventually(t, 15*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("herald %v exited:\n%s", args, out)
		default:
		}
		return strings.Contains(out.String(), until)
	}, "herald's output holds %q", until)
	return cmd.Process, out
}

var addressRe = regexp.MustCompile(`msg="herald listening" address=(\S+)`)

func listenAddress(t *testing.T, out string) string {
	t.Helper()
	m := addressRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no address in\n%s", out)
	}
	return m[1]
}

// startupLines are the lines of out from "herald listening" on, without
// their times and the listener's address, which differ between runs.
func startupLines(t *testing.T, out string) []string {
	t.Helper()
	i := strings.Index(out, `msg="herald listening"`)
	if i < 0 {
		t.Fatalf("no startup lines in\n%s", out)
	}
	stamp := regexp.MustCompile(`^time=\S+ | address=\S+`)
	var lines []string
	for _, l := range strings.Split(out[i:], "\n") {
		if l != "" {
			lines = append(lines, stamp.ReplaceAllString(l, ""))
		}
	}
	return lines
}

// TestServeWithoutFile: the server docs/DEPLOY.md's docker run starts, with
// no file, serves the default namespaces to users with a token, and says
// in its startup lines what it runs. It used to refuse every channel with
// error 102 (unknown namespace).
func TestServeWithoutFile(t *testing.T) {
	_, out := launch(t, "", secretEnv, "demo chat off", "serve", "--address", "127.0.0.1:0")
	addr := listenAddress(t, out.String())
	c, _ := ht.Connect(t, "ws://"+addr+"/ws", ht.Token(t, "alice", nil))
	for _, ch := range []string{"chat:lobby", "news"} {
		if r := c.Call(map[string]any{"type": "subscribe", "channel": ch}); r.ErrorCode() != 0 {
			t.Fatalf("subscribe %s: %v", ch, r)
		}
	}
	if r := c.Call(map[string]any{"type": "publish", "channel": "chat:lobby", "data": 1}); r.ErrorCode() != 0 {
		t.Fatalf("publish: %v", r)
	}
	if r := c.Call(map[string]any{"type": "subscribe", "channel": "other:x"}); r.ErrorCode() != 102 {
		t.Fatalf("subscribe to an unlisted namespace: %v, want 102", r)
	}
	lines := strings.Join(startupLines(t, out.String()), "\n")
	for _, want := range []string{
		`msg="broker: memory (one node; a restart starts new streams)" max_retained_bytes=1073741824 max_streams=1000000`,
		`msg="namespaces: as listed, any other refused (error 102)" namespaces="\"\" (subscribe: authenticated, publish: subscribers); chat (subscribe: authenticated, publish: subscribers, presence, join/leave, history 100/1h, recover)"`,
		`msg="admin UI off: set HERALD_ADMIN_PASSWORD (16 or more bytes) to turn it on"`,
		`msg="demo chat off (on in development mode, or with demo.enabled)"`,
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("startup lines lack\n%s\nin\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "WARN") {
		t.Errorf("warnings for the defaults:\n%s", lines)
	}
	// Outside development mode / is not a page.
	if code, _ := get(t, "http://"+addr+"/"); code != http.StatusNotFound {
		t.Fatalf("GET / outside dev mode: %d, want 404", code)
	}
}

// get fetches url on a connection of its own, closed after.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNoFileServesAsTheInitFile: the configuration serve builds without a
// file is the one it builds from the file `herald config init` writes, in
// development mode and out of it, and the two servers say the same at
// startup.
func TestNoFileServesAsTheInitFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "herald.yaml")
	if out, code := run(t, nil, "config", "init", file); code != 0 {
		t.Fatalf("config init: %d %s", code, out)
	}
	for _, mode := range [][]string{nil, {"--dev"}} {
		none, init := serveConfig(t, secretEnv, mode...), serveConfig(t, secretEnv, append(mode, "--config", file)...)
		if !reflect.DeepEqual(none, init) {
			t.Fatalf("%v: without a file\n%+v\nfrom config init\n%+v", mode, none, init)
		}
		if !reflect.DeepEqual(hubConfig(none, nil), hubConfig(init, nil)) {
			t.Fatalf("%v: the hub configurations differ", mode)
		}
	}

	_, a := launch(t, "", secretEnv, "demo chat off", "serve", "--address", "127.0.0.1:0")
	_, b := launch(t, "", secretEnv, "demo chat off", "serve", "--address", "127.0.0.1:0", "--config", file)
	if la, lb := startupLines(t, a.String()), startupLines(t, b.String()); !reflect.DeepEqual(la, lb) {
		t.Fatalf("startup without a file:\n%s\nwith the init file:\n%s", strings.Join(la, "\n"), strings.Join(lb, "\n"))
	}
}

// TestStartupLines: one line each for the engine (never its passwords),
// the namespaces, the admin UI and the demo, and a warning for what
// leaves clients nothing to subscribe to.
func TestStartupLines(t *testing.T) {
	logged := func(cfg config.Config, on served) string {
		var buf logtest.Buffer
		logStartup(buf.Logger(slog.LevelInfo), cfg, on)
		return buf.String()
	}
	check := func(name, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: lacks %q in\n%s", name, w, out)
			}
		}
	}

	redis := config.Default()
	redis.Broker.Engine, redis.Broker.Redis.Addrs, redis.Broker.Redis.Password = "redis", []string{"10.0.0.1:6379", "10.0.0.2:6379"}, "hunter2-redis"
	redis.Broker.Redis.Prefix = "app1"
	redis.Token.HMACSecret = ht.Secret
	out := logged(redis, served{admin: true, metrics: true})
	check("redis", out, `level=INFO msg="broker: redis" addrs=10.0.0.1:6379,10.0.0.2:6379 cluster=false prefix=app1`,
		`msg="admin UI on" url=/admin/`)

	nats := config.Default()
	nats.Broker.Engine, nats.Broker.NATS.URL, nats.Broker.NATS.Replicas = "nats", "nats://herald:hunter2-nats@10.0.0.5:4222,nats://10.0.0.6:4222", 3
	out += logged(nats, served{})
	check("nats", out, `msg="broker: nats" url=nats://herald:xxxxx@10.0.0.5:4222,nats://10.0.0.6:4222 prefix=herald replicas=3`)

	embedded := config.Default()
	embedded.Broker.Engine, embedded.Broker.NATS.Embedded.Enabled = "nats", true
	embedded.Broker.NATS.Embedded.Peers = []string{"10.0.0.2:6222", "10.0.0.3:6222"}
	check("embedded", logged(embedded, served{}), `msg="broker: nats, embedded" listen=127.0.0.1:4222 cluster_listen=:6222 peers=10.0.0.2:6222,10.0.0.3:6222 dir=herald-data/nats prefix=herald replicas=1`)
	if strings.Contains(out, "hunter2") {
		t.Errorf("a broker password was logged:\n%s", out)
	}

	dev := config.Default()
	dev.Dev = true
	dev.ApplyDev()
	out = logged(dev, served{demo: true, landing: true, metrics: true})
	check("dev", out,
		`level=WARN msg="development mode: anonymous connections, every namespace open to anyone, any origin; never in production"`,
		`msg="namespaces: every namespace open to anyone, with presence, history and recovery (development mode)"`,
		`level=WARN msg="demo chat on: it hands out a token for any name, never enable it in production" url=/demo/ namespace=chat`,
		`msg="landing page on" url=/`)

	none := config.Default()
	none.Token.HMACSecret = ht.Secret
	none.Namespaces = nil
	check("no namespaces", logged(none, served{}),
		`level=WARN msg="no namespaces are configured: every subscribe and publish is refused with error 102 (unknown namespace)`)
	anon := config.Default()
	anon.Anonymous = true
	check("anonymous", logged(anon, served{}), `level=WARN msg="connections can only be anonymous`)
	noSecret := config.Default()
	noSecret.Demo.Enabled, noSecret.Token.PublicKeyFile = true, "key.pem"
	check("demo without a secret", logged(noSecret, served{}), `msg="demo chat off: it needs token.hmac_secret to sign its tokens"`)
}

// TestServeDevDefaults: development mode listens on loopback unless an
// address is given, and opens every namespace unless the file lists its
// own.
func TestServeDevDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // the key file
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--dev"}, "127.0.0.1:8000"},
		{[]string{"HERALD_DEV=true"}, nil, "127.0.0.1:8000"},
		{nil, []string{"--dev", "--address", ":8000"}, ":8000"},
		{nil, []string{"--dev", "--address", "0.0.0.0:9000"}, "0.0.0.0:9000"},
		{[]string{"HERALD_ADDRESS=0.0.0.0:9000"}, []string{"--dev"}, "0.0.0.0:9000"},
		{nil, nil, ":8000"},
	} {
		if cfg := serveConfig(t, append(tc.env, secretEnv...), tc.args...); cfg.Address != tc.want {
			t.Errorf("%v %v: address %s, want %s", tc.env, tc.args, cfg.Address, tc.want)
		}
	}
	if cfg := serveConfig(t, secretEnv, "--dev"); len(cfg.Namespaces) != 0 {
		t.Errorf("dev namespaces %v, want none listed (all open)", cfg.Namespaces)
	}
}

// TestServeDevPrintsAndKeepsTheKey: once it listens, --dev prints the API
// key as a line to paste and keeps it in herald-data/dev-api-key (0600),
// where the next run in the same directory finds it again; a key file
// others may read is not trusted.
func TestServeDevPrintsAndKeepsTheKey(t *testing.T) {
	dir := t.TempDir()
	keyLine := regexp.MustCompile(`(?m)^export HERALD_API_KEY=([0-9a-f]{32})$`)
	p, out := launch(t, dir, nil, "export HERALD_API_URL=", "serve", "--dev", "--address", "127.0.0.1:0")
	m := keyLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no export line in\n%s", out)
	}
	key, file := m[1], filepath.Join(dir, "herald-data", "dev-api-key")
	if !strings.Contains(out.String(), "also in "+file) {
		t.Errorf("the output does not name %s:\n%s", file, out)
	}
	if !regexp.MustCompile(`(?m)^export HERALD_API_URL=http://127\.0\.0\.1:\d+$`).MatchString(out.String()) {
		t.Errorf("no API URL line in\n%s", out)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	if st.Mode().Perm() != 0o600 || string(b) != key+"\n" {
		t.Fatalf("key file %v %q, want 0600 holding %s", st.Mode(), b, key)
	}
	addr := listenAddress(t, out.String())
	if status, body := apiPost(t, addr, key, "info", `{}`); status != 200 {
		t.Fatalf("the printed key: %d %s", status, body)
	}
	p.Kill()

	_, again := launch(t, dir, nil, "export HERALD_API_URL=", "serve", "--dev", "--address", "127.0.0.1:0")
	if m := keyLine.FindStringSubmatch(again.String()); m == nil || m[1] != key || !strings.Contains(again.String(), "kept from an earlier run") {
		t.Fatalf("restart in the same directory: want key %s again, got\n%s", key, again)
	}

	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	_, third := launch(t, dir, nil, "export HERALD_API_URL=", "serve", "--dev", "--address", "127.0.0.1:0")
	if m := keyLine.FindStringSubmatch(third.String()); m == nil || m[1] == key {
		t.Fatalf("a key file others may read was trusted:\n%s", third)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("the new key file is %v", st.Mode())
	}

	// A key from the configuration is neither printed nor written.
	other := t.TempDir()
	_, configured := launch(t, other, []string{"HERALD_API_KEYS=" + ht.APIKey}, "api_keys", "serve", "--dev", "--address", "127.0.0.1:0")
	if strings.Contains(configured.String(), "export HERALD_API_KEY") || strings.Contains(configured.String(), ht.APIKey) {
		t.Fatalf("a configured key was printed:\n%s", configured)
	}
	if _, err := os.Stat(filepath.Join(other, "herald-data")); !os.IsNotExist(err) {
		t.Fatalf("herald-data written with a configured key: %v", err)
	}
}

// TestServeStartupErrorSaysNothingElse: a server that cannot start prints
// its error and nothing that suggests it is up: no listening line, no key.
func TestServeStartupErrorSaysNothingElse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		env  []string
		args []string
		want string
		code int
	}{
		{nil, []string{"--address", busy.Addr().String()}, "address already in use", 1},
		{[]string{"HERALD_ADMIN_PASSWORD=short"}, []string{"--address", "127.0.0.1:0"}, "admin.password", 2},
		{[]string{"HERALD_TOKEN_PUBLIC_KEY_FILE=missing.pem"}, []string{"--address", "127.0.0.1:0"}, "token: open missing.pem", 2},
	} {
		cmd := herald(t, tc.env, append([]string{"serve", "--dev"}, tc.args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		ee, ok := err.(interface{ ExitCode() int })
		if !ok || ee.ExitCode() != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v %v: %v, want exit %d and %q:\n%s", tc.env, tc.args, err, tc.code, tc.want, out)
		}
		for _, unwanted := range []string{"listening", "API key", "export", "development mode"} {
			if strings.Contains(string(out), unwanted) {
				t.Errorf("%v %v: a failed start printed %q:\n%s", tc.env, tc.args, unwanted, out)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "herald-data")); !os.IsNotExist(err) {
		t.Errorf("a failed start wrote a key file: %v", err)
	}
}

// TestServeDevLandingPage: / in development mode is the landing page,
// naming the key file but never showing the key.
func TestServeDevLandingPage(t *testing.T) {
	const password = "admin-password-0123456789"
	_, addr, key := startServeEnv(t, []string{"HERALD_ADMIN_PASSWORD=" + password})
	code, body := get(t, "http://"+addr+"/")
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	for _, want := range []string{`href="/demo/"`, `href="/admin/"`, `href="/metrics"`, "ws://" + addr + "/ws", "herald-data/dev-api-key"} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %s", want)
		}
	}
	if strings.Contains(body, key) {
		t.Fatal("the landing page shows the API key")
	}
	if code, _ := get(t, "http://"+addr+"/nothing"); code != http.StatusNotFound {
		t.Fatalf("GET /nothing: %d", code)
	}
}

// serveConfig is the configuration serve would run with these flags and
// environment.
func serveConfig(t *testing.T, env []string, args ...string) config.Config {
	t.Helper()
	cmd, f := newServeCommand()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := f.load(cmd, env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
