// Package deploy holds the deployment examples (systemd, container image,
// Kubernetes, reverse proxies); its tests check them against the code, since
// none of them runs in CI.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/config"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// knownEnv is every HERALD_* variable the configuration reference lists.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, m := range regexp.MustCompile("`(HERALD_[A-Z0-9_]+)`").FindAllStringSubmatch(read(t, "../docs/CONFIG.md"), -1) {
		known[m[1]] = true
	}
	if !known["HERALD_BROKER_REDIS_ADDRS"] {
		t.Fatal("docs/CONFIG.md lists no environment variables")
	}
	return known
}

// k8sObjects decodes the manifest's documents.
func k8sObjects(t *testing.T) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(read(t, "kubernetes/herald.yaml")))
	var objs []map[string]any
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
}

// get walks a decoded YAML tree by map keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

// TestKubernetesManifest checks the drain arithmetic, the probes, the
// environment variable names and that the ConfigMap's file loads.
func TestKubernetesManifest(t *testing.T) {
	kinds := map[string]map[string]any{}
	for _, o := range k8sObjects(t) {
		kinds[o["kind"].(string)] = o
	}
	dep, svc, cm := kinds["Deployment"], kinds["Service"], kinds["ConfigMap"]
	if dep == nil || svc == nil || cm == nil {
		t.Fatalf("kinds %v", kinds)
	}
	pod := get(t, dep, "spec", "template", "spec")
	c := get(t, pod, "containers", 0)
	if p := get(t, c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness %v", p)
	}
	if p := get(t, c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness %v", p)
	}
	if port := get(t, c, "ports", 0, "containerPort"); port != 8000 {
		t.Errorf("container port %v, Herald listens on :8000", port)
	}
	if tp := get(t, svc, "spec", "ports", 0, "targetPort"); tp != get(t, c, "ports", 0, "name") {
		t.Errorf("service targets %v", tp)
	}

	known := knownEnv(t)
	env := []string{"HERALD_TOKEN_HMAC_SECRET=" + strings.Repeat("k", 32), "HERALD_API_KEYS=" + strings.Repeat("a", 32)}
	shutdown := config.Default().ShutdownTimeout
	for _, e := range get(t, c, "env").([]any) {
		name := get(t, e, "name").(string)
		if name == "GOMEMLIMIT" {
			// The Go runtime's soft limit must sit below the container's.
			soft := mebibytes(t, e.(map[string]any)["value"].(string), "MiB")
			hard := mebibytes(t, get(t, c, "resources", "limits", "memory").(string), "Mi")
			if soft >= hard || soft < hard*8/10 {
				t.Errorf("GOMEMLIMIT %d MiB for a %d MiB container: want 80-99%%", soft, hard)
			}
			continue
		}
		if !known[name] {
			t.Errorf("%s is not a configuration variable", name)
		}
		if v, ok := e.(map[string]any)["value"].(string); ok {
			env = append(env, name+"="+v)
			if name == "HERALD_SHUTDOWN_TIMEOUT" {
				d, err := time.ParseDuration(v)
				if err != nil {
					t.Fatal(err)
				}
				shutdown = d
			}
		}
	}
	preStop := time.Duration(get(t, c, "lifecycle", "preStop", "sleep", "seconds").(int)) * time.Second
	grace := time.Duration(get(t, pod, "terminationGracePeriodSeconds").(int)) * time.Second
	if grace <= preStop+shutdown {
		t.Errorf("terminationGracePeriodSeconds %v leaves no room for preStop %v + shutdown_timeout %v", grace, preStop, shutdown)
	}

	// The mounted file, with the Deployment's variables, is a valid config.
	path := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(path, []byte(get(t, cm, "data", "herald.yaml").(string)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Broker.Engine != "redis" {
		t.Fatalf("engine %q", cfg.Broker.Engine)
	}
}

// mebibytes reads a quantity such as "900MiB" or "1Gi" (unit is the MiB
// spelling; the GiB one is unit with G for M).
func mebibytes(t *testing.T, v, unit string) int {
	t.Helper()
	mult := 1
	num, ok := strings.CutSuffix(v, unit)
	if !ok {
		num, ok = strings.CutSuffix(v, strings.Replace(unit, "M", "G", 1))
		mult = 1024
	}
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		t.Fatalf("memory quantity %q", v)
	}
	return n * mult
}

// TestSystemdUnit checks the stop timeout against the drain and the
// hardening directives, and lets systemd-analyze verify the unit where it
// is installed.
func TestSystemdUnit(t *testing.T) {
	unit := read(t, "systemd/herald.service")
	for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "LimitNOFILE=", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(unit, "\n"+want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	m := regexp.MustCompile(`\nTimeoutStopSec=(\d+)s\n`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("no TimeoutStopSec in seconds")
	}
	stop, _ := strconv.Atoi(m[1])
	if time.Duration(stop)*time.Second <= config.Default().ShutdownTimeout {
		t.Errorf("TimeoutStopSec=%ds does not exceed shutdown_timeout %v", stop, config.Default().ShutdownTimeout)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze not installed (apt-get install systemd)")
		}
		t.Skip("systemd-analyze not installed: the unit is not verified")
	}
	verify := func(body string) string {
		dir := t.TempDir()
		p := filepath.Join(dir, "herald.service")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", p).CombinedOutput()
		if err != nil {
			return string(out) + err.Error()
		}
		return string(out)
	}
	// verify wants ExecStart's binary to exist.
	runnable := strings.ReplaceAll(unit, "/usr/local/bin/herald", "/bin/true")
	if out := verify(runnable); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify:\n%s", out)
	}
	// The check itself notices a mistake.
	if out := verify(runnable + "\n[Service]\nHardening=maybe\n"); !strings.Contains(out, "Hardening") {
		t.Errorf("systemd-analyze verify missed an unknown key: %q", out)
	}
}

// TestDockerfile checks what the image promises: a static non-root binary
// with the version stamped into the variable cmd/herald really has.
func TestDockerfile(t *testing.T) {
	df := read(t, "docker/Dockerfile")
	if !strings.Contains(read(t, "../cmd/herald/main.go"), "\nvar version = ") {
		t.Fatal("cmd/herald no longer declares var version")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "FROM gcr.io/distroless/static", "USER nonroot", "./cmd/herald", "ENTRYPOINT [\"/herald\"]"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(df, "\nHEALTHCHECK") {
		t.Error("Dockerfile has a HEALTHCHECK; orchestrators probe /healthz and /readyz")
	}
	if n := strings.Count(df, "\nFROM "); n != 2 {
		t.Errorf("%d stages, want a build stage and a runtime stage", n)
	}
}

// TestReverseProxies checks the WebSocket upgrade and that idle timeouts
// outlast the server's ping interval.
func TestReverseProxies(t *testing.T) {
	nginx := read(t, "nginx/herald.conf")
	for _, want := range []string{"proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;", "proxy_http_version 1.1;", "proxy_buffering off;"} {
		if !strings.Contains(nginx, want) {
			t.Errorf("nginx lacks %q", want)
		}
	}
	m := regexp.MustCompile(`proxy_read_timeout (\d+)s;`).FindStringSubmatch(nginx)
	if m == nil {
		t.Fatal("nginx: no proxy_read_timeout")
	}
	if secs, _ := strconv.Atoi(m[1]); time.Duration(secs)*time.Second <= config.Default().PingInterval+config.Default().PongTimeout {
		t.Errorf("proxy_read_timeout %ss closes connections between pings", m[1])
	}
	caddy := read(t, "caddy/Caddyfile")
	for _, want := range []string{"reverse_proxy 127.0.0.1:8000", "health_uri /readyz", "flush_interval -1"} {
		if !strings.Contains(caddy, want) {
			t.Errorf("Caddyfile lacks %q", want)
		}
	}
	if !bytes.Contains([]byte(caddy), []byte("@api path /api/*")) || !strings.Contains(nginx, "location /api/ {\n        deny all;") {
		t.Error("a proxy exposes the server API")
	}
}
