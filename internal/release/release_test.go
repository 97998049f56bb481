package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseTargets(t *testing.T) {
	ts, err := parseTargets("linux/amd64, windows/arm64")
	if err != nil || !slices.Equal(ts, []Target{{"linux", "amd64"}, {"windows", "arm64"}}) {
		t.Fatalf("%v %v", ts, err)
	}
	if ts, err := parseTargets(joinTargets(defaultTargets)); err != nil || !slices.Equal(ts, defaultTargets) {
		t.Fatalf("default targets do not round-trip: %v %v", ts, err)
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64", "linux/amd64/v3", "../x/amd64", "Linux/amd64", "linux/amd64,linux/amd64"} {
		if ts, err := parseTargets(bad); err == nil {
			t.Errorf("%q accepted: %v", bad, ts)
		}
	}
}

// TestBuildRefusesBadVersions checks the version before anything is built:
// it becomes an -ldflags word and part of file names.
func TestBuildRefusesBadVersions(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dist")
	for _, v := range []string{"", "v1 -X main.other=1", "../v1", "v1/linux", "-v1", "v1\n", strings.Repeat("9", 101)} {
		_, err := Build(context.Background(), Options{Version: v, Targets: defaultTargets, Out: out, Go: "/nonexistent/go"})
		if err == nil || !strings.Contains(err.Error(), "version") {
			t.Errorf("version %q: %v", v, err)
		}
	}
	if _, err := Build(context.Background(), Options{Version: "v1.2.3", Out: out, Go: "/nonexistent/go"}); err == nil {
		t.Error("no targets accepted")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run created the output directory")
	}
}

func TestSourceDateEpoch(t *testing.T) {
	if d, err := sourceDateEpoch("1700000000"); err != nil || !d.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("%v %v", d, err)
	}
	if d, err := sourceDateEpoch(""); err != nil || !d.IsZero() {
		t.Fatalf("unset: %v %v", d, err)
	}
	for _, bad := range []string{"yesterday", "-1", "1.5"} {
		if _, err := sourceDateEpoch(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// members is an archive's entries: name, mode, time, content.
type member struct {
	name    string
	mode    fs.FileMode
	modTime time.Time
	data    []byte
}

func readTarGz(t *testing.T, b []byte) []member {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q, time %v", gz.Name, gz.ModTime)
	}
	tr := tar.NewReader(gz)
	var ms []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ms
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{h.Name, h.FileInfo().Mode(), h.ModTime, data})
	}
}

func readZip(t *testing.T, b []byte) []member {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var ms []member
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{f.Name, f.Mode(), f.Modified, data})
	}
	return ms
}

// TestArchivesAreReproducible writes each archive kind twice from files
// with different modes and times on disk: the bytes must not change, and
// the members carry the given date and the release's modes.
func TestArchivesAreReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "herald")
	readme := filepath.Join(dir, "README.md")
	os.WriteFile(bin, []byte("\x7fELF not really"), 0o700)
	os.WriteFile(readme, []byte("# Herald\n"), 0o666)
	files := []file{{"herald", bin, 0o755}, {"README.md", readme, 0o644}}
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

	for _, kind := range []struct {
		name  string
		write func(io.Writer, string, []file, time.Time) error
		read  func(*testing.T, []byte) []member
	}{{"tar.gz", writeTarGz, readTarGz}, {"zip", writeZip, readZip}} {
		t.Run(kind.name, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := kind.write(&first, "herald_v1_linux_amd64", files, date); err != nil {
				t.Fatal(err)
			}
			// What a second checkout changes: file times and modes.
			os.Chtimes(bin, time.Now(), time.Now().Add(time.Hour))
			os.Chmod(bin, 0o755)
			if err := kind.write(&second, "herald_v1_linux_amd64", files, date.In(time.FixedZone("X", 3600))); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatal("the same files gave different archives")
			}
			want := []member{
				{"herald_v1_linux_amd64/", fs.ModeDir | 0o755, date, nil},
				{"herald_v1_linux_amd64/herald", 0o755, date, []byte("\x7fELF not really")},
				{"herald_v1_linux_amd64/README.md", 0o644, date, []byte("# Herald\n")},
			}
			got := kind.read(t, first.Bytes())
			if len(got) != len(want) {
				t.Fatalf("members %v", got)
			}
			for i, m := range got {
				w := want[i]
				if m.name != w.name || m.mode != w.mode || !m.modTime.Equal(w.modTime) || !bytes.Equal(m.data, w.data) {
					t.Errorf("member %d: got %s %v %v %q, want %s %v %v %q", i, m.name, m.mode, m.modTime, m.data, w.name, w.mode, w.modTime, w.data)
				}
			}
		})
	}
	// A missing input fails the archive rather than leaving it out.
	if err := writeTarGz(io.Discard, "x", []file{{"LICENSE", filepath.Join(dir, "LICENSE"), 0o644}}, date); err == nil {
		t.Error("a missing file was archived")
	}
}

// TestChecksumsFile checks the file with sha256sum itself where it is
// installed, and that the check notices a changed archive.
func TestChecksumsFile(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"b.zip", "a.tar.gz"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("contents of "+name), 0o644)
		paths = append(paths, p)
	}
	sums := filepath.Join(dir, "sums.txt")
	if err := writeAtomic(sums, func(w io.Writer) error { return writeChecksums(w, paths) }); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sums)
	// Sorted by name, two spaces: sha256sum's text-mode lines.
	want := fmt.Sprintf("%x  a.tar.gz\n%x  b.zip\n", sha256.Sum256([]byte("contents of a.tar.gz")), sha256.Sum256([]byte("contents of b.zip")))
	if string(b) != want {
		t.Fatalf("checksums file %q, want %q", b, want)
	}
	if err := writeChecksums(io.Discard, []string{filepath.Join(dir, "missing.zip")}); err == nil {
		t.Error("a missing archive was summed")
	}

	sha256sum, err := exec.LookPath("sha256sum")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sha256sum not installed (coreutils)")
		}
		t.Skip("sha256sum not installed: the format is not checked by the tool")
	}
	check := func() (string, error) {
		cmd := exec.Command(sha256sum, "-c", "sums.txt")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	os.WriteFile(paths[0], []byte("tampered"), 0o644)
	if out, err := check(); err == nil {
		t.Fatalf("sha256sum -c passed a changed archive:\n%s", out)
	}
}

// TestReleaseHostTarget runs the release tool as a release does, for the
// host's target only, twice: the two runs must write the same bytes, and
// the binary unpacked from the archive must report the stamped version and
// commit and serve /healthz in development mode. The tool is built without
// the race detector, which would make compressing the archives take
// minutes.
func TestReleaseHostTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles herald")
	}
	goCmd, err := goCommand()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(t.TempDir(), "release")
	if out, err := exec.Command(goCmd, "build", "-o", tool, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the release tool: %v\n%s", err, out)
	}
	host := Target{runtime.GOOS, runtime.GOARCH}
	const version = "v0.0.0-releasetest"
	env := os.Environ()

	// The toolchain stamps the commit where the module sits in a checkout
	// whose .git is a directory (not in a linked worktree, whose .git is a
	// file, nor in a source tarball); elsewhere the archive needs a date.
	var commit string
	var date time.Time
	if fi, err := os.Stat(filepath.Join(root, ".git")); err == nil && fi.IsDir() {
		head, err := exec.Command("git", "log", "-1", "--format=%H %ct").Output()
		if err != nil {
			t.Fatalf("git log: %v", err)
		}
		f := strings.Fields(string(head))
		sec, _ := strconv.ParseInt(f[1], 10, 64)
		commit, date = f[0], time.Unix(sec, 0)
		env = append(env, "SOURCE_DATE_EPOCH=")
	} else {
		t.Logf("%s/.git is not a directory: no commit to check", root)
		date = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		env = append(env, "SOURCE_DATE_EPOCH="+strconv.FormatInt(date.Unix(), 10))
	}

	name := "herald_" + version + "_" + host.OS + "_" + host.Arch
	archive := name + ".tar.gz"
	if host.OS == "windows" {
		archive = name + ".zip"
	}
	var sums [2][]byte
	var out string
	for i := range sums {
		out = filepath.Join(t.TempDir(), "dist")
		cmd := exec.Command(tool, "-version", version, "-targets", host.String(), "-out", out)
		cmd.Dir, cmd.Env = root, env
		if log, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("release: %v\n%s", err, log)
		}
		if sums[i], err = os.ReadFile(filepath.Join(out, "herald_"+version+"_checksums.txt")); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatalf("two builds of one commit differ:\n%s\n%s", sums[0], sums[1])
	}
	b, err := os.ReadFile(filepath.Join(out, archive))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x  %s\n", sha256.Sum256(b), archive); string(sums[0]) != want {
		t.Fatalf("checksums %q, want %q", sums[0], want)
	}

	// Unpack the archive as a user would, with tar (the race detector would
	// make Go's gzip reader take as long as the build).
	exe := unpack(t, filepath.Join(out, archive), b)
	top := filepath.Dir(filepath.Dir(exe))
	var names []string
	filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(top, p)
		if rel == "." {
			return nil
		}
		names = append(names, filepath.ToSlash(rel))
		if !fi.ModTime().Equal(date) {
			t.Errorf("%s: time %v, want %v", rel, fi.ModTime(), date)
		}
		want := fs.FileMode(0o644)
		switch {
		case p == exe:
			want = 0o755
		case d.IsDir():
			want = fs.ModeDir | 0o755
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode(), want)
		}
		return nil
	})
	if want := []string{name, name + "/README.md", name + "/" + host.exe()}; !slices.Equal(names, want) {
		t.Fatalf("archive holds %q, want %q", names, want)
	}

	stamped, err := readStamp(exe, host)
	if err != nil {
		t.Fatal(err)
	}
	if stamped.revision != commit {
		t.Fatalf("stamped commit %q, want %q", stamped.revision, commit)
	}
	v, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(v), version) || commit != "" && !strings.Contains(string(v), commit[:7]) {
		t.Fatalf("version: %v %q, want %s and commit %q", err, v, version, commit)
	}
	serveDev(t, exe)
}

// unpack extracts an archive into a new directory and returns the path of
// the herald binary in it.
func unpack(t *testing.T, path string, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".zip"), ".tar.gz")
	if strings.HasSuffix(path, ".zip") {
		for _, m := range readZip(t, b) {
			p := filepath.Join(dir, filepath.FromSlash(m.name))
			if m.mode.IsDir() {
				os.MkdirAll(p, m.mode.Perm())
			} else if err := os.WriteFile(p, m.data, m.mode.Perm()); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, m.modTime, m.modTime)
		}
		return filepath.Join(dir, name, "herald.exe")
	}
	tar, err := exec.LookPath("tar")
	if err != nil {
		t.Fatal("tar not installed")
	}
	if out, err := exec.Command(tar, "-xzf", path, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return filepath.Join(dir, name, "herald")
}

// serveDev runs `serve --dev` from the released binary on a free loopback
// port and waits for /healthz, then probes it with `herald health` too.
func serveDev(t *testing.T, exe string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	var logs bytes.Buffer
	cmd := exec.Command(exe, "serve", "--dev", "--address", addr)
	cmd.Dir, cmd.Env = dir, append(env, "HOME="+dir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	var done bool
	wait.For(t, 30*time.Second, func() error {
		select {
		case err := <-exited:
			exited <- err
			done = true
			return nil
		default:
		}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return fmt.Errorf("serve --dev on %s: %v", addr, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("serve --dev on %s: /healthz answers %s", addr, resp.Status)
		}
		return nil
	})
	if done {
		t.Fatalf("serve --dev exited: %s", logs.String())
	}
	if out, err := exec.Command(exe, "health", "--url", "http://"+addr+"/healthz").CombinedOutput(); err != nil {
		t.Fatalf("herald health: %v %q", err, out)
	}
}
