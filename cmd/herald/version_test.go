package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99", Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := readBuildInfo("v1.2.3", bi)
	want := buildInfo{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, Go: "go1.99"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	var b bytes.Buffer
	got.Engines = []string{"memory", "redis"}
	got.writeText(&b)
	if b.String() != "herald v1.2.3\ncommit 0123456789abcdef0123456789abcdef01234567 (modified)\ngo     go1.99\nengines memory, redis\n" {
		t.Fatalf("text %q", b.String())
	}
	// No build information at all: the version still prints.
	if got := readBuildInfo("dev", nil); !reflect.DeepEqual(got, buildInfo{Version: "dev", Go: "unknown"}) {
		t.Fatalf("nil build info: %+v", got)
	}
	b.Reset()
	readBuildInfo("dev", &debug.BuildInfo{GoVersion: "go1.99"}).writeText(&b)
	if !strings.Contains(b.String(), "commit unknown (not stamped: built by go run") {
		t.Fatalf("text without a commit %q", b.String())
	}
	// Without -X main.version, the module version the toolchain stamped
	// (go install ...@v1.2.3, or a pseudo-version in a checkout).
	bi.Main.Version = "v1.4.0"
	if got := readBuildInfo("dev", bi); got.Version != "v1.4.0" {
		t.Fatalf("module version: %+v", got)
	}
	if got := readBuildInfo("v2.0.0", bi); got.Version != "v2.0.0" {
		t.Fatalf("ldflags version over the module's: %+v", got)
	}
	bi.Main.Version = "(devel)"
	if got := readBuildInfo("dev", bi); got.Version != "dev" {
		t.Fatalf("(devel): %+v", got)
	}
}

// TestVersionFlag: herald --version prints what herald version prints.
func TestVersionFlag(t *testing.T) {
	want, code := run(t, nil, "version")
	if code != 0 {
		t.Fatalf("version: exit %d %q", code, want)
	}
	if got, code := run(t, nil, "--version"); code != 0 || got != want {
		t.Fatalf("--version: exit %d %q, want %q", code, got, want)
	}
}

// TestVersionCommand runs the real main: the test binary has no ldflags
// version and no VCS stamp, so it reports "dev" and its toolchain.
func TestVersionCommand(t *testing.T) {
	out, code := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "herald dev\n") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("exit %d: %q", code, out)
	}
	out, code = run(t, nil, "version", "--json")
	var info map[string]any
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %q", code, err, out)
	}
	if info["version"] != "dev" || info["go"] != runtime.Version() || info["modified"] != false {
		t.Fatalf("json %v", info)
	}
	if out, code := run(t, nil, "version", "extra"); code == 0 {
		t.Fatalf("an argument was accepted: %q", out)
	}
}

// TestVersionFromLdflags builds the binary the way a release does, and the
// way go build in a checkout does, and checks that the version and the
// checkout's commit come out.
func TestVersionFromLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	versionOf := func(ldflags ...string) buildInfo {
		t.Helper()
		exe := filepath.Join(t.TempDir(), "herald")
		build := exec.Command("go", append(append([]string{"build", "-buildvcs=true"}, ldflags...), "-o", exe, ".")...)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		out, err := exec.Command(exe, "version", "--json").Output()
		if err != nil {
			t.Fatal(err)
		}
		var info buildInfo
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		return info
	}
	info := versionOf("-ldflags", "-X main.version=v9.8.7")
	if info.Version != "v9.8.7" || info.Go != runtime.Version() {
		t.Fatalf("%+v", info)
	}
	// Inside a git checkout with git installed, the toolchain stamps the
	// revision; elsewhere (a source tarball) there is none to check, and
	// neither in a linked worktree (its .git is a file, which the
	// toolchain does not read). Others may commit meanwhile, so the stamp
	// is checked to be a commit of this repository rather than HEAD.
	gitDir, err := exec.Command("git", "rev-parse", "--path-format=absolute", "--git-dir").Output()
	common, _ := exec.Command("git", "rev-parse", "--path-format=absolute", "--git-common-dir").Output()
	if err != nil || string(gitDir) != string(common) {
		t.Logf("no git checkout, or a linked worktree: %v", err)
		return
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(info.Commit) {
		t.Fatalf("commit %q", info.Commit)
	}
	if kind, err := exec.Command("git", "cat-file", "-t", info.Commit).Output(); err != nil || strings.TrimSpace(string(kind)) != "commit" {
		t.Fatalf("commit %q is not in the repository: %s %v", info.Commit, kind, err)
	}
	// Without -X main.version: the module version the toolchain derived
	// from the checkout (a tag, or a pseudo-version naming the commit).
	plain := versionOf()
	if plain.Version == "dev" || !strings.HasPrefix(plain.Version, "v") || !strings.Contains(plain.Version, plain.Commit[:12]) && !regexp.MustCompile(`^v\d+\.\d+\.\d+`).MatchString(plain.Version) {
		t.Fatalf("version of a build in a checkout: %+v", plain)
	}
}
