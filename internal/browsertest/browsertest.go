// Package browsertest runs a test's browser script: a Node.js program that
// drives Debian's Chromium through playwright-core against a Herald server
// the Go test started. Scripts load the shared helper with
//
//	const { launch, artifact, check } = require(process.env.BROWSERTEST);
//
// and read what the Go test passed them from their environment.
//
// Without node, Chromium or the installed playwright-core
// (npm ci --prefix internal/browsertest) the test skips with a line saying
// so; under CI (CI=true) it fails instead.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// dir is this package's directory, where node_modules is installed.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Chromium returns the browser's path: $HERALD_TEST_CHROMIUM or
// /usr/bin/chromium.
func Chromium() string {
	if p := os.Getenv("HERALD_TEST_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// Require skips the test (fails it under CI) unless a browser script can
// run here.
func Require(t testing.TB) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("node"); err != nil {
		why = "node is not installed"
	} else if _, err := os.Stat(Chromium()); err != nil {
		why = "Chromium is not installed (apt-get install chromium)"
	} else if _, err := os.Stat(filepath.Join(dir(), "node_modules", "playwright-core")); err != nil {
		why = "playwright-core is not installed (npm ci --prefix internal/browsertest)"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("browser test: %s", why)
	}
	t.Skipf("browser test skipped: %s", why)
}

// Run runs the Node.js script with env (KEY=value) added, within timeout,
// and fails the test if it exits non-zero. Screenshots the script saves with
// artifact() land in $HERALD_TEST_ARTIFACTS, or the test's temporary
// directory. The script's output is logged.
func Run(t testing.TB, script string, timeout time.Duration, env ...string) {
	t.Helper()
	Require(t)
	artifacts := os.Getenv("HERALD_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(),
		"BROWSERTEST="+filepath.Join(dir(), "browser.cjs"),
		"CHROMIUM="+Chromium(),
		"ARTIFACTS="+artifacts,
	)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if out.Len() > 0 {
		t.Logf("%s:\n%s", filepath.Base(script), out.String())
	}
	if err != nil {
		t.Fatalf("browser script %s: %v (artifacts in %s)", filepath.Base(script), err, artifacts)
	}
}
