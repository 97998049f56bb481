package client_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// conformanceDir is the repository's conformance directory, from this
// package's directory (where go test runs).
var conformanceDir = filepath.Join("..", "conformance")

// The token secret and API key of conformance/server.yaml: public,
// test-only values the README documents.
const (
	conformanceSecret = "conformance-test-secret-0123456789abcdef"
	conformanceAPIKey = "conformance-test-api-key"
)

var (
	heraldBinOnce sync.Once
	heraldBinDir  string
	heraldBin     string
	heraldBinErr  error
)

// buildHerald builds cmd/herald from this repository once per test run:
// the vectors run against the server outside SDKs run them against,
// configured by conformance/server.yaml alone.
func buildHerald(t *testing.T) string {
	t.Helper()
	heraldBinOnce.Do(func() {
		if heraldBinDir, heraldBinErr = os.MkdirTemp("", "herald-conformance-"); heraldBinErr != nil {
			return
		}
		heraldBin = filepath.Join(heraldBinDir, "herald")
		out, err := exec.Command("go", "build", "-o", heraldBin, "github.com/heraldhq/herald/cmd/herald").CombinedOutput()
		if err != nil {
			heraldBinErr = fmt.Errorf("go build herald: %v\n%s", err, out)
		}
	})
	if heraldBinErr != nil {
		t.Fatal(heraldBinErr)
	}
	return heraldBin
}

// removeHeraldBin deletes the built binary; TestMain calls it.
func removeHeraldBin() {
	if heraldBinDir != "" {
		os.RemoveAll(heraldBinDir)
	}
}

// listening finds the address in the server's "herald listening" log
// line, and listeningTCP its raw TCP listener's.
var (
	listening    = regexp.MustCompile(`msg="herald listening" address=(\S+)`)
	listeningTCP = regexp.MustCompile(`msg="herald listening for raw TCP clients" address=(\S+)`)
)

// conformanceServer runs `herald serve --config conformance/server.yaml` on
// a free loopback port until the test ends, and returns its host:port.
func conformanceServer(t *testing.T) string {
	t.Helper()
	addr, _ := startConformanceServer(t, false)
	return addr
}

// conformanceServerTCP is conformanceServer with the raw TCP listener on,
// on a port of its own: it returns both addresses.
func conformanceServerTCP(t *testing.T) (addr, tcpAddr string) {
	t.Helper()
	return startConformanceServer(t, true)
}

func startConformanceServer(t *testing.T, tcp bool) (string, string) {
	t.Helper()
	cmd := exec.Command(buildHerald(t), "serve", "--config", filepath.Join(conformanceDir, "server.yaml"), "--address", "127.0.0.1:0")
	// The file alone configures the server (no HERALD_* from the
	// environment); info level shows the address it listens on.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HERALD_LOG_LEVEL=info")
	if tcp {
		cmd.Env = append(cmd.Env, "HERALD_TCP_ADDRESS=127.0.0.1:0")
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr, tcpAddr := make(chan string, 1), make(chan string, 1)
	var logMu sync.Mutex
	var log bytes.Buffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			log.WriteString(line + "\n")
			logMu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
			if m := listeningTCP.FindStringSubmatch(line); m != nil {
				tcpAddr <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { <-logDone; done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("herald exited: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("herald did not stop within 10 s of SIGTERM")
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("herald's log:\n%s", log.String())
			logMu.Unlock()
		}
	})
	timeout := time.After(20 * time.Second)
	var a, ta string
	for a == "" || (tcp && ta == "") {
		select {
		case a = <-addr:
			continue
		case ta = <-tcpAddr:
			continue
		case <-logDone:
		case <-timeout:
		}
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("herald did not start listening:\n%s", log.String())
	}
	return a, ta
}

// tokenPlaceholder matches {{token:user[,option]...}} and
// {{chantoken:user,channel[,option]...}}.
var tokenPlaceholder = regexp.MustCompile(`^\{\{(token|chantoken):([^}]*)\}\}$`)

// mintToken returns the token a token placeholder stands for, and false
// for any other string. Claims (README "Tokens"): sub, exp an hour from now
// unless exp=SECONDS (from now, negative for the past) or exp=none says
// otherwise, and for a channel token channel.
func mintToken(s string) (string, bool, error) {
	m := tokenPlaceholder.FindStringSubmatch(s)
	if m == nil {
		return "", false, nil
	}
	args := strings.Split(m[2], ",")
	claims := jwt.MapClaims{"sub": args[0], "exp": time.Now().Add(time.Hour).Unix()}
	opts := args[1:]
	if m[1] == "chantoken" {
		if len(args) < 2 {
			return "", true, fmt.Errorf("vector error: %s names no channel", s)
		}
		claims["channel"] = args[1]
		opts = args[2:]
	}
	if args[0] == "" {
		return "", true, fmt.Errorf("vector error: %s names no user", s)
	}
	for _, o := range opts {
		switch k, val, _ := strings.Cut(o, "="); {
		case k == "exp" && val == "none":
			delete(claims, "exp")
		case k == "exp":
			secs, err := strconv.Atoi(val)
			if err != nil {
				return "", true, fmt.Errorf("vector error: %s: exp=%q is not a number of seconds", s, val)
			}
			claims["exp"] = time.Now().Add(time.Duration(secs) * time.Second).Unix()
		default:
			return "", true, fmt.Errorf("vector error: %s: unknown option %q", s, o)
		}
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(conformanceSecret))
	return tok, true, err
}
