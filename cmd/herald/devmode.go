package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/heraldhq/herald/config"
)

// devKeyFile is where development mode keeps its generated server API
// key, relative to the working directory: beside the embedded NATS store
// (herald-data/nats), where `export HERALD_API_KEY=$(cat
// herald-data/dev-api-key)` finds it from the directory the server was
// started in.
var devKeyFile = filepath.Join("herald-data", "dev-api-key")

// devSecrets is what development mode generated for a run.
type devSecrets struct {
	// Key is the server API key development mode made up or took from
	// KeyFile; "" when the configuration has its own keys.
	Key string
	// KeyFile is where Key is kept; Reused says it was already there
	// (from an earlier run), so that a restarted server keeps the key a
	// shell has exported.
	KeyFile string
	Reused  bool
	// Secret reports a token secret generated for this run.
	Secret bool
}

// fillDevSecrets gives a development configuration the token secret and
// API key it lacks, printing nothing: the key is shown once the server is
// up (devBanner), so that a server that fails to start never looks as if
// it had.
func fillDevSecrets(cfg *config.Config) *devSecrets {
	d := &devSecrets{}
	if !cfg.Token.Configured() {
		cfg.Token.HMACSecret = randomHex(32)
		d.Secret = true
	}
	if len(cfg.APIKeys) == 0 {
		d.KeyFile = devKeyFile
		if abs, err := filepath.Abs(devKeyFile); err == nil {
			d.KeyFile = abs
		}
		d.Key, d.Reused = readDevKey(d.KeyFile), true
		if d.Key == "" {
			d.Key, d.Reused = randomHex(16), false
		}
		cfg.APIKeys = []string{d.Key}
	}
	return d
}

var devKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}\n?$`)

// readDevKey returns the key an earlier run kept in path, or "" when
// there is none to trust: not a regular file, readable by others, or not
// a key.
func readDevKey(path string) string {
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > 256 {
		return ""
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil || !devKeyPattern.Match(b) {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// writeDevKey keeps key in path, readable by its owner only, replacing
// whatever was there at once (never a half-written file).
func writeDevKey(path, key string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".dev-api-key-*") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.WriteString(key + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// devBanner tells the user of a development server, once it listens,
// where it is and the server API key as a line to paste into a shell. It
// keeps the key in its file first, and says so only when that worked.
func devBanner(w io.Writer, addr net.Addr, tls bool, d *devSecrets) error {
	base := httpURL(addr, tls)
	fmt.Fprintf(w, "\nHerald is running in development mode (never in production): %s/\n", base)
	if d.Key == "" {
		fmt.Fprintln(w, "The server API keys are those of api_keys.")
		return nil
	}
	var err error
	if !d.Reused {
		err = writeDevKey(d.KeyFile, d.Key)
	}
	switch {
	case err != nil:
		fmt.Fprintf(w, "The server API key (not kept in a file: %v):\n", err)
	case d.Reused:
		fmt.Fprintf(w, "The server API key, kept from an earlier run in %s (delete it for a new one):\n", d.KeyFile)
	default:
		fmt.Fprintf(w, "The server API key, also in %s:\n", d.KeyFile)
	}
	// The URL too, for herald publish and herald api on another address.
	fmt.Fprintf(w, "\nexport HERALD_API_KEY=%s\nexport HERALD_API_URL=%s\n\n", d.Key, base)
	return err
}

// httpURL is how a local client reaches the listener at addr.
func httpURL(addr net.Addr, tls bool) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
