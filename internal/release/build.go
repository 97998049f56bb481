package main

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Target is one system a release ships a binary for.
type Target struct {
	OS, Arch string
}

// String is the GOOS/GOARCH form the -targets flag takes.
func (t Target) String() string { return t.OS + "/" + t.Arch }

// exe is the binary's name on the target.
func (t Target) exe() string {
	if t.OS == "windows" {
		return "herald.exe"
	}
	return "herald"
}

// defaultTargets is what a release ships: the systems servers and
// developers' machines run on.
var defaultTargets = []Target{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// Options is one release run.
type Options struct {
	// Version is stamped as main.version and names the archives.
	Version string
	// Targets to build, in order.
	Targets []Target
	// Root is the module root (the repository); the binary is ./cmd/herald.
	Root string
	// Out receives the archives and the checksums file; created if absent.
	Out string
	// Go is the go command.
	Go string
	// SourceDate is every archive entry's modification time; zero means the
	// commit time the toolchain stamped into the binaries.
	SourceDate time.Time
	// Log receives one line per step; nil discards.
	Log io.Writer
}

// Artifact is one archive a release produced.
type Artifact struct {
	Target Target
	// Path of the archive, under Options.Out.
	Path string
	// Commit is the VCS revision stamped into its binary ("" outside a
	// checkout); Modified reports uncommitted changes at build time.
	Commit   string
	Modified bool
}

// Result is what Build wrote.
type Result struct {
	Artifacts []Artifact
	// Checksums is the path of the SHA-256 checksums file.
	Checksums string
}

// versionRE keeps a version usable as an -ldflags word and in file names.
var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,99}$`)

// Build compiles, archives and checksums every target, stopping at the
// first failure.
func Build(ctx context.Context, o Options) (*Result, error) {
	if !versionRE.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q: want letters, digits and . + _ - (e.g. v1.2.3)", o.Version)
	}
	if len(o.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "herald-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	docs, err := docFiles(o.Root)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, t := range o.Targets {
		fmt.Fprintf(o.Log, "building %s\n", t)
		bin := filepath.Join(work, t.OS+"_"+t.Arch, t.exe())
		if err := compile(ctx, o, t, bin); err != nil {
			return nil, err
		}
		stamp, err := readStamp(bin, t)
		if err != nil {
			return nil, err
		}
		if stamp.modified {
			fmt.Fprintf(o.Log, "warning: %s is built from a checkout with uncommitted changes: `herald version` says \"modified\"\n", t)
		}
		date := o.SourceDate
		if date.IsZero() {
			if date = stamp.time; date.IsZero() {
				return nil, errors.New("the binary carries no commit time (the toolchain stamps one only in a checkout whose .git is a directory, not in a source tarball or a linked worktree): set SOURCE_DATE_EPOCH")
			}
		}
		name := fmt.Sprintf("herald_%s_%s_%s", o.Version, t.OS, t.Arch)
		files := append([]file{{name: t.exe(), path: bin, mode: 0o755}}, docs...)
		path := filepath.Join(o.Out, name+".tar.gz")
		write := writeTarGz
		if t.OS == "windows" {
			path = filepath.Join(o.Out, name+".zip")
			write = writeZip
		}
		if err := writeAtomic(path, func(w io.Writer) error { return write(w, name, files, date) }); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(o.Log, "wrote %s\n", path)
		res.Artifacts = append(res.Artifacts, Artifact{Target: t, Path: path, Commit: stamp.revision, Modified: stamp.modified})
	}
	res.Checksums = filepath.Join(o.Out, fmt.Sprintf("herald_%s_checksums.txt", o.Version))
	paths := make([]string, len(res.Artifacts))
	for i, a := range res.Artifacts {
		paths[i] = a.Path
	}
	if err := writeAtomic(res.Checksums, func(w io.Writer) error { return writeChecksums(w, paths) }); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "wrote %s\n", res.Checksums)
	return res, nil
}

// compile builds ./cmd/herald for t. The environment pins everything that
// changes the output: no cgo (a static binary), the baseline instruction
// set (a binary that runs on every CPU of its architecture), and the
// module graph exactly as go.sum records it. -buildvcs=auto stamps the
// commit wherever the toolchain can, whatever GOFLAGS the machine sets.
func compile(ctx context.Context, o Options, t Target, bin string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=auto",
		"-ldflags", "-s -w -X main.version="+o.Version,
		"-o", bin, "./cmd/herald")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %v\n%s", t, err, out)
	}
	return nil
}

// stamp is what the toolchain recorded in a binary.
type stamp struct {
	revision string
	modified bool
	time     time.Time
}

// readStamp checks that the binary was built the way a release must be
// (it reads the binary's build information, for every target's format)
// and returns its VCS stamp.
func readStamp(bin string, t Target) (stamp, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return stamp{}, fmt.Errorf("%s: %w", bin, err)
	}
	want := map[string]string{"GOOS": t.OS, "GOARCH": t.Arch, "CGO_ENABLED": "0", "-trimpath": "true"}
	var s stamp
	for _, kv := range bi.Settings {
		if v, ok := want[kv.Key]; ok {
			if kv.Value != v {
				return stamp{}, fmt.Errorf("%s: built with %s=%s, want %s", bin, kv.Key, kv.Value, v)
			}
			delete(want, kv.Key)
		}
		switch kv.Key {
		case "vcs.revision":
			s.revision = kv.Value
		case "vcs.modified":
			s.modified = kv.Value == "true"
		case "vcs.time":
			if s.time, err = time.Parse(time.RFC3339, kv.Value); err != nil {
				return stamp{}, fmt.Errorf("%s: vcs.time %q: %w", bin, kv.Value, err)
			}
		}
	}
	if len(want) > 0 {
		return stamp{}, fmt.Errorf("%s: build settings lack %v", bin, want)
	}
	return s, nil
}

// docFiles are the documents every archive carries next to the binary.
func docFiles(root string) ([]file, error) {
	var files []file
	for _, name := range []string{"README.md", "LICENSE"} {
		p := filepath.Join(root, name)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) && name != "README.md" {
			continue
		} else if err != nil {
			return nil, err
		}
		files = append(files, file{name: name, path: p, mode: 0o644})
	}
	return files, nil
}

// writeChecksums writes one "<sha256>  <file name>" line per path, sorted by
// name: what `sha256sum -c` checks in the directory of the archives.
func writeChecksums(w io.Writer, paths []string) error {
	lines := make([]string, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		lines = append(lines, hex.EncodeToString(h.Sum(nil))+"  "+filepath.Base(p)+"\n")
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(a[66:], b[66:]) })
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

// writeAtomic writes path through a temporary file in the same directory,
// so an interrupted run never leaves a truncated archive under its real
// name.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// parseTargets reads "linux/amd64,darwin/arm64".
func parseTargets(s string) ([]Target, error) {
	var ts []Target
	for _, part := range strings.Split(s, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(part), "/")
		t := Target{goos, goarch}
		if !ok || !goName.MatchString(goos) || !goName.MatchString(goarch) {
			return nil, fmt.Errorf("target %q: want GOOS/GOARCH, e.g. linux/amd64", part)
		}
		if slices.Contains(ts, t) {
			return nil, fmt.Errorf("target %s given twice", t)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// goName is the shape of GOOS and GOARCH values; the toolchain rejects
// the ones it does not know.
var goName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

func joinTargets(ts []Target) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ",")
}

// goCommand is the go command on PATH, which go test puts first for its
// tests (the toolchain that built this program may not be on the machine
// it runs on).
func goCommand() (string, error) {
	return exec.LookPath("go")
}
