// Package deploy holds the deployment examples (systemd, container image,
// Kubernetes, reverse proxies); its tests check them against the code, since
// none of them runs in CI.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
}

// dockerfile splits a Dockerfile into its instructions.
func dockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var ins []instruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		ins = append(ins, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued line: %q", cur.String())
	}
	return ins
}

// goVersion is the toolchain go.mod asks for: its toolchain line, else its
// go line.
func goVersion(t *testing.T) string {
	t.Helper()
	mod := read(t, "../go.mod")
	if m := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindStringSubmatch(mod); m != nil {
		return m[1]
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return m[1]
}

// TestGoDirective: every go.mod's go line names a language version, as
// its first release (go 1.26.0, which is what go mod tidy writes once a
// dependency such as golang.org/x/sys says 1.26.0), never a patch release
// (go 1.26.8), which would force that release on every application
// importing the module; the toolchain line pins the release Herald itself
// is built with.
func TestGoDirective(t *testing.T) {
	// Walk the tree rather than ask git, so the check runs in any copy
	// of it; installed JavaScript dependencies are not Herald's modules.
	var mods []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "go.mod" {
			rel, _ := filepath.Rel("..", path)
			mods = append(mods, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(mods, "go.mod") || !slices.Contains(mods, "bench/baseline/go.mod") {
		t.Fatalf("go.mod files %v", mods)
	}
	for _, mod := range mods {
		m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(read(t, filepath.Join("..", mod)))
		if m == nil || !regexp.MustCompile(`^1\.\d+(\.0)?$`).MatchString(m[1]) {
			t.Errorf("%s: go line %q, want a language version, 1.N or 1.N.0", mod, m)
		}
	}
}

// digest is an optional pin of an image reference to its content.
const digest = `(@sha256:[0-9a-f]{64})?`

// TestDockerfile checks what the image promises, since CI has no container
// engine to build it: base images pinned, the build flags of the release
// archives with the version stamped into the variable cmd/herald really
// has, a numeric non-root user, and a health check the image can run
// without a shell.
func TestDockerfile(t *testing.T) {
	ins := dockerfile(t, read(t, "docker/Dockerfile"))
	var from, users, healthchecks, builds []string
	last := map[string]string{}
	for _, in := range ins {
		last[in.cmd] = in.args
		switch in.cmd {
		case "FROM":
			from = append(from, strings.Fields(in.args)[0])
		case "USER":
			users = append(users, in.args)
		case "HEALTHCHECK":
			healthchecks = append(healthchecks, in.args)
		case "RUN":
			if strings.Contains(in.args, "go build") {
				builds = append(builds, in.args)
			}
		}
	}
	if len(from) != 2 {
		t.Fatalf("stages %q, want a build stage and a runtime stage", from)
	}
	// The build image is the exact Go release go.mod names: never a moving
	// "golang:1.26", and never older than go.mod (it would fetch a newer
	// toolchain at build time, or fail with GOTOOLCHAIN=local).
	if !regexp.MustCompile(`^golang:` + regexp.QuoteMeta(goVersion(t)) + `(-[a-z0-9.]+)?` + digest + `$`).MatchString(from[0]) {
		t.Errorf("build stage FROM %s, want golang:%s (optionally -variant and @sha256:...)", from[0], goVersion(t))
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static-debian\d+:nonroot` + digest + `$`).MatchString(from[1]) {
		t.Errorf("runtime stage FROM %s, want distroless static with a tag", from[1])
	}

	if !strings.Contains(read(t, "../cmd/herald/main.go"), "\nvar version = ") {
		t.Fatal("cmd/herald no longer declares var version")
	}
	if !regexp.MustCompile(`(?m)^ARG VERSION(=\S*)?$`).MatchString(read(t, "docker/Dockerfile")) {
		t.Error("no ARG VERSION to stamp the version with")
	}
	if len(builds) != 1 {
		t.Fatalf("go build runs %d times", len(builds))
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/herald"} {
		if !strings.Contains(builds[0], want) {
			t.Errorf("go build lacks %q: %s", want, builds[0])
		}
	}
	if last["ENTRYPOINT"] != `["/herald"]` || !strings.Contains(last["COPY"], "/herald") {
		t.Errorf("ENTRYPOINT %s, COPY %s: the binary is not /herald", last["ENTRYPOINT"], last["COPY"])
	}

	// Numeric: Kubernetes cannot check that a user name is not root.
	if len(users) != 1 {
		t.Fatalf("USER %q, want one", users)
	}
	m := regexp.MustCompile(`^(\d+):(\d+)$`).FindStringSubmatch(users[0])
	if m == nil || m[1] == "0" || m[2] == "0" {
		t.Fatalf("USER %s, want a numeric non-root uid:gid", users[0])
	}
	for _, o := range k8sObjects(t) {
		if o["kind"] == "Deployment" {
			sc := get(t, o, "spec", "template", "spec", "securityContext")
			if uid := get(t, sc, "runAsUser"); strconv.Itoa(uid.(int)) != m[1] {
				t.Errorf("Kubernetes runAsUser %v, image user %s", uid, m[1])
			}
		}
	}

	// The image has no shell: the check runs the binary, in exec form.
	if len(healthchecks) != 1 {
		t.Fatalf("HEALTHCHECK %q, want one", healthchecks)
	}
	_, probe, ok := strings.Cut(healthchecks[0], "CMD ")
	var argv []string
	if !ok || json.Unmarshal([]byte(probe), &argv) != nil || len(argv) < 2 || argv[0] != "/herald" || argv[1] != "health" {
		t.Errorf("HEALTHCHECK %s, want CMD [\"/herald\", \"health\"]", healthchecks[0])
	}
	if !regexp.MustCompile(`\bhealthCommand\(\)`).MatchString(read(t, "../cmd/herald/main.go")) {
		t.Error("herald has no health command")
	}

	// What the build context leaves out, git ignores too: otherwise the
	// stamped commit would be marked modified.
	ignored := map[string]bool{}
	for _, l := range strings.Split(read(t, "../.gitignore"), "\n") {
		ignored[strings.Trim(l, "/")] = true
	}
	for _, l := range strings.Split(read(t, "docker/Dockerfile.dockerignore"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && !ignored[strings.Trim(l, "/")] {
			t.Errorf("Dockerfile.dockerignore leaves out %s, which git tracks", l)
		}
	}
}

// TestKubernetesImageIsVersioned: a Deployment on :latest (or on no tag)
// cannot tell which binary a pod runs, nor roll back to the previous one.
func TestKubernetesImageIsVersioned(t *testing.T) {
	for _, o := range k8sObjects(t) {
		if o["kind"] != "Deployment" {
			continue
		}
		image, _ := get(t, o, "spec", "template", "spec", "containers", 0, "image").(string)
		if !regexp.MustCompile(`^([a-z0-9.-]+(:\d+)?/)?[a-z0-9./_-]+:v\d+\.\d+\.\d+` + digest + `$`).MatchString(image) {
			t.Errorf("image %q, want a version tag such as herald:v1.2.3", image)
		}
		return
	}
	t.Fatal("no Deployment")
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
