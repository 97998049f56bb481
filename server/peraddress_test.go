package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// fakeRemote is a listener whose connections claim the next of addrs as
// their remote address, in the order they are accepted: the loopback
// interface has one IPv6 address, and the test needs several in a /64.
type fakeRemote struct {
	net.Listener
	mu    sync.Mutex
	addrs []string
}

func (l *fakeRemote) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.addrs) == 0 {
		return c, nil
	}
	a := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(l.addrs[0]))
	l.addrs = l.addrs[1:]
	return &remoteConn{Conn: c, remote: a}, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c *remoteConn) RemoteAddr() net.Addr { return c.remote }

// startFakeRemote starts a server whose connections come, in turn, from
// addrs.
func startFakeRemote(t *testing.T, cfg server.Config, addrs ...string) (*server.Server, string) {
	t.Helper()
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	h := hub.New(hub.Config{Namespaces: ht.DefaultNamespaces(), Inbox: inboxOpts}, b, auth.NewHMACVerifier([]byte(ht.Secret)))
	if err := h.Run(context.Background()); err != nil {
		t.Fatalf("hub run: %v", err)
	}
	srv := server.New(cfg, h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(&fakeRemote{Listener: l, addrs: addrs}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ht.Shutdown(ctx, srv, h); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return srv, l.Addr().String()
}

// TestPerIPLimitsCountIPv6By64: two addresses in one IPv6 /64 share one
// allowance of HTTP connections and one of WebSocket connections, as they
// share one connect rate; an address in another /64 has its own.
func TestPerIPLimitsCountIPv6By64(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		srv, addr := startFakeRemote(t, server.Config{MaxHTTPConnectionsPerIP: 1, ReadHeaderTimeout: time.Minute},
			"[2001:db8:1:2::1]:1000", "[2001:db8:1:2::2]:1000", "[2001:db8:1:3::1]:1000")
		first := dialTCP(t, addr)
		defer first.Close()
		ht.Eventually(t, 5*time.Second, func() bool { n, _ := srv.HTTPConnections(); return n == 1 }, "first counted")
		served := func() bool {
			c := dialTCP(t, addr)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			return strings.HasPrefix(line, "HTTP/1.1 200")
		}
		if served() {
			t.Fatal("a second connection from the same /64 was served")
		}
		if !served() {
			t.Fatal("a connection from another /64 was refused")
		}
	})
	t.Run("websocket", func(t *testing.T) {
		_, addr := startFakeRemote(t, server.Config{MaxConnectionsPerIP: 1},
			"[2001:db8:1:2::1]:1000", "[2001:db8:1:2::2]:1000", "[2001:db8:1:3::1]:1000")
		url := "ws://" + addr + "/ws"
		first, _ := ht.Connect(t, url, ht.Token(t, "a", nil))
		second := ht.Dial(t, url, nil)
		second.ExpectClose(4005)
		other, _ := ht.Connect(t, url, ht.Token(t, "c", nil))
		for _, c := range []*ht.Client{first, other} {
			if r := c.Call(map[string]any{"type": "presence_stats", "channel": "chat:x"}); r.ErrorCode() != 0 {
				t.Fatalf("connection within its limit: %v", r)
			}
		}
	})
}
