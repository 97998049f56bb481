package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runFor runs herald like run, but kills it after d: for commands that
// must fail at once and would otherwise serve forever.
func runFor(t *testing.T, d time.Duration, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := herald(t, env, args...)
	cmd.Dir = t.TempDir()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	return out.String(), 0
}

// TestConfigCheckRefusesWhatServeRefuses: every configuration serve
// refuses at startup, config check refuses too, with the same words, and
// exit status 2 for both.
func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pub := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pub, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty file: every setting below comes from the environment.
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(typo, []byte("dev: false\nadress: \":8000\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		file string
		want string
	}{
		{"a PEM key as the HMAC secret", []string{"HERALD_TOKEN_HMAC_SECRET=" + string(pubPEM)}, empty, "token.hmac_secret: is a PEM block"},
		{"HS pinned with only a public key", []string{"HERALD_TOKEN_PUBLIC_KEY_FILE=" + pub, "HERALD_TOKEN_ALGORITHMS=HS256"}, empty, "token.algorithms[0]: HS256 needs token.hmac_secret"},
		{"an algorithm the key cannot verify", []string{"HERALD_TOKEN_PUBLIC_KEY_FILE=" + pub, "HERALD_TOKEN_ALGORITHMS=ES256"}, empty, "token: algorithm ES256 allowed but no configured public key fits it"},
		{"a missing public key file", []string{"HERALD_TOKEN_PUBLIC_KEY_FILE=" + filepath.Join(dir, "missing.pem")}, empty, "token: open "},
		{"a key file that is no key", []string{"HERALD_TOKEN_PUBLIC_KEY_FILE=" + typo}, empty, "token: "},
		{"missing certificate files", []string{"HERALD_TOKEN_HMAC_SECRET=" + strings.Repeat("s", 32), "HERALD_TLS_CERT_FILE=" + filepath.Join(dir, "c.pem"), "HERALD_TLS_KEY_FILE=" + filepath.Join(dir, "k.pem")}, empty, "tls: "},
		{"JWKS over plain http", []string{"HERALD_TOKEN_JWKS_URL=http://auth.example.com/jwks.json"}, empty, "token.jwks_url: plain http outside loopback"},
		{"a typo", []string{"HERALD_TOKEN_HMAC_SECRET=" + strings.Repeat("s", 32)}, typo, typo + ":2: adress: unknown key (did you mean address?)"},
	} {
		check := []string{"config", "check", tc.file}
		serve := []string{"serve", "--address", "127.0.0.1:0", "--config", tc.file}
		for _, args := range [][]string{check, serve} {
			out, code := runFor(t, 20*time.Second, tc.env, args...)
			if code != 2 || !strings.Contains(out, tc.want) || strings.Contains(out, "listening") {
				t.Errorf("%s: herald %s: exit %d, want 2 and %q:\n%s", tc.name, args[0], code, tc.want, out)
			}
		}
	}
}

// TestConfigCheckDefaultsAndWarnings: without a file, check checks the
// defaults with the environment, and prints what is likely a mistake.
func TestConfigCheckDefaultsAndWarnings(t *testing.T) {
	if out, code := run(t, secretEnv, "config", "check"); code != 0 || out != "the defaults: ok\n" {
		t.Fatalf("exit %d: %q", code, out)
	}
	out, code := run(t, []string{"HERALD_ANONYMOUS=true"}, "config", "check")
	if code != 0 || !strings.Contains(out, "warning: connections can only be anonymous") {
		t.Fatalf("exit %d: %q", code, out)
	}
}
