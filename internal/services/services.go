// Package services gives tests the real Redis and NATS servers Herald's
// brokers talk to, and the PostgreSQL the outbox consumer reads: the
// shared ones a developer or CI runs on the standard ports, and private
// server processes a test starts, stops and restarts itself (outages,
// Redis Cluster).
//
// Without a service, a test skips with one line saying how to enable it;
// under CI (CI=true) a missing service fails the test instead, so CI never
// passes by skipping.
package services

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Redis returns the address of the shared Redis server:
// $HERALD_TEST_REDIS, or 127.0.0.1:6379.
func Redis(t testing.TB) string {
	t.Helper()
	addr := envOr("HERALD_TEST_REDIS", "127.0.0.1:6379")
	require(t, "Redis", addr, "start redis-server on 127.0.0.1:6379 or set HERALD_TEST_REDIS=host:port")
	return addr
}

// NATS returns the URL of the shared NATS server, which must have
// JetStream enabled: $HERALD_TEST_NATS, or nats://127.0.0.1:4222.
func NATS(t testing.TB) string {
	t.Helper()
	url := envOr("HERALD_TEST_NATS", "nats://127.0.0.1:4222")
	require(t, "NATS", hostPort(url), "start nats-server -js on 127.0.0.1:4222 or set HERALD_TEST_NATS=nats://host:port")
	return url
}

// PostgreSQL returns the connection string of the shared PostgreSQL
// server: $HERALD_TEST_POSTGRES, or
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable (trust
// authentication, user postgres, database test). Tests that share it
// work in a schema or database of their own.
func PostgreSQL(t testing.TB) string {
	t.Helper()
	dsn := envOr("HERALD_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	addr := "127.0.0.1:5432"
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		addr = u.Host
	}
	require(t, "PostgreSQL", addr, "start PostgreSQL on 127.0.0.1:5432 (user postgres, database test) or set HERALD_TEST_POSTGRES=postgres://...")
	return dsn
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// hostPort strips a URL's scheme.
func hostPort(url string) string {
	for i := 0; i+2 < len(url); i++ {
		if url[i:i+3] == "://" {
			return url[i+3:]
		}
	}
	return url
}

// require skips (or, under CI, fails) the test when nothing answers at addr.
func require(t testing.TB, name, addr, how string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return
	}
	missing(t, fmt.Sprintf("%s not reachable at %s (%v): %s", name, addr, err, how))
}

// missing skips the test, or fails it under CI.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Binary returns the path of a server program, skipping (or failing under
// CI) when it is not installed.
func Binary(t testing.TB, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	missing(t, name+" is not installed (apt-get install "+name+")")
	return ""
}

// FreePort returns a loopback port nothing listens on now, and never one
// it returned before in this process: a test picks several before its
// servers bind them, and the system may offer a port again once the probe
// that found it has closed.
func FreePort(t testing.TB) int {
	t.Helper()
	given.Lock()
	defer given.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given.ports[port] {
			given.ports[port] = true
			return port
		}
	}
}

// given holds the ports FreePort returned.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Process is a server program a test runs on its own port. It is killed
// when the test ends.
type Process struct {
	t    testing.TB
	name string
	args []string
	// Port is where the server listens, the same across restarts.
	Port int
	// BusPort is a Redis Cluster node's cluster bus port (CLUSTER MEET
	// needs it); 0 for other servers.
	BusPort int
	// Dir is the server's data directory (a NATS's JetStream store).
	Dir string
	cmd *exec.Cmd
	out bytes.Buffer
}

// StartRedis runs a private redis-server on a free port, keeping nothing on
// disk, with extra arguments appended (--cluster-enabled yes, ...).
func StartRedis(t testing.TB, extra ...string) *Process {
	t.Helper()
	port := FreePort(t)
	dir := t.TempDir()
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no",
	}, extra...)
	bus := 0
	if slices.Contains(extra, "--cluster-enabled") {
		// The cluster bus would take port+10000, which nothing reserved.
		bus = FreePort(t)
		args = append(args, "--cluster-port", strconv.Itoa(bus))
	}
	p := start(t, Binary(t, "redis-server"), port, args)
	p.BusPort = bus
	return p
}

// StartNATS runs a private nats-server with JetStream on a free port, its
// store in a temporary directory that survives restarts of the process
// (extra arguments are appended).
func StartNATS(t testing.TB, extra ...string) *Process {
	t.Helper()
	port := FreePort(t)
	dir := t.TempDir()
	args := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir}, extra...)
	p := start(t, Binary(t, "nats-server"), port, args)
	p.Dir = dir
	return p
}

func start(t testing.TB, bin string, port int, args []string) *Process {
	p := &Process{t: t, name: bin, args: args, Port: port}
	t.Cleanup(p.Kill)
	p.Start()
	return p
}

// Addr is the server's host:port.
func (p *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// Start starts the server (again) and waits until it accepts connections.
func (p *Process) Start() {
	p.t.Helper()
	p.cmd = exec.Command(p.name, p.args...)
	p.out.Reset()
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.Kill()
			p.t.Fatalf("%s did not listen on %s: %s", p.name, p.Addr(), p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop terminates the server gracefully (SIGTERM) and waits for it.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// Kill ends the server at once, as a crash would.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// CleanRedis deletes every key starting with prefix from the Redis at addr
// when the test ends, so tests on the shared server leave nothing behind.
func CleanRedis(t testing.TB, addr, prefix string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		defer c.Close()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := c.Unlink(ctx, keys[:n]...).Err(); err != nil {
				t.Logf("clean redis %s*: %v", prefix, err)
				return
			}
			keys = keys[n:]
		}
	})
}
