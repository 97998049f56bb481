// Command release builds Herald's release archives: the herald binary
// cross-compiled for every supported system, each in an archive with the
// README (and the LICENSE, once there is one), plus a SHA-256 checksums
// file in the format sha256sum reads. From the repository root:
//
//	go run ./internal/release -version v1.2.3          every target, into dist/
//	go run ./internal/release -targets linux/amd64     one target
//
// Binaries are static (CGO off), built with -trimpath, stamped with
// -X main.version and, by the toolchain, with the commit they come from.
// Archive entries carry the commit's time, owner 0 and fixed modes, so two
// runs on the same commit with the same toolchain give the same bytes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	version := fs.String("version", "", "version to stamp and name the archives with (default: git describe of HEAD)")
	targets := fs.String("targets", joinTargets(defaultTargets), "comma-separated GOOS/GOARCH pairs")
	out := fs.String("out", "dist", "directory to write the archives and checksums into")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	goCmd, err := goCommand()
	if err != nil {
		return err
	}
	root, err := moduleRoot(ctx, goCmd)
	if err != nil {
		return err
	}
	ts, err := parseTargets(*targets)
	if err != nil {
		return err
	}
	if *version == "" {
		if *version, err = describe(ctx, root); err != nil {
			return fmt.Errorf("no version from git (%v): pass -version", err)
		}
	}
	date, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	_, err = Build(ctx, Options{
		Version:    *version,
		Targets:    ts,
		Root:       root,
		Out:        *out,
		Go:         goCmd,
		SourceDate: date,
		Log:        os.Stderr,
	})
	return err
}

// moduleRoot is the directory of the go.mod that governs the working
// directory, so the tool works from anywhere inside the repository.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the herald module: run from the repository")
	}
	return filepath.Dir(gomod), nil
}

// describe names an untagged build after its commit ("dev-1a2b3c4"), so
// that nothing built between releases passes for a release.
func describe(ctx context.Context, root string) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	if v, err := git("describe", "--tags", "--match", "v[0-9]*", "--dirty"); err == nil {
		return v, nil
	}
	v, err := git("describe", "--always", "--dirty")
	if err != nil {
		return "", err
	}
	return "dev-" + v, nil
}

// sourceDateEpoch reads the reproducible-builds convention for overriding
// timestamps; zero when unset, so that the commit's time is used.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
