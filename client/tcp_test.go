package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server/tcp"
	"github.com/heraldhq/herald/tlsconfig/tlstest"
)

// tcpNode is a raw TCP listener beside a test server, on its hub.
type tcpNode struct {
	s       *ht.Server
	ts      *tcp.Server
	addr    string
	served  chan error
	stopped bool
}

// startTCP starts a TCP listener for s on addr ("127.0.0.1:0" for any
// port); it stops, with s, when the test ends.
func startTCP(t *testing.T, s *ht.Server, addr string, cfg *tls.Config) *tcpNode {
	t.Helper()
	var l net.Listener
	// The port of a listener just stopped may linger briefly.
	wait.For(t, 5*time.Second, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	n := &tcpNode{s: s, ts: tcp.New(tcp.Config{Gate: s.Server, TLS: cfg}, s.Hub), addr: l.Addr().String(), served: make(chan error, 1)}
	go func() { n.served <- n.ts.Serve(l) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop drains the listener and the server side by side, as herald serve
// does. Idempotent.
func (n *tcpNode) stop(t *testing.T) {
	if n.stopped {
		return
	}
	n.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	down := make(chan error, 1)
	go func() { down <- n.ts.Shutdown(ctx) }()
	n.s.Stop()
	if err := <-down; err != nil {
		t.Errorf("tcp shutdown: %v", err)
	}
	if err := <-n.served; !errors.Is(err, tcp.ErrServerClosed) {
		t.Errorf("tcp serve: %v", err)
	}
}

// TestTCPReconnectAfterServerRestart is TestReconnectAfterServerRestart
// over tcp://: the client hears 1001 in the disconnect push, reconnects
// and recovers every publication, once, in order.
func TestTCPReconnectAfterServerRestart(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		n := startTCP(t, s, "127.0.0.1:0", nil)
		var states []client.StateChange
		var smu sync.Mutex
		c, err := client.Dial(ctx(t), "tcp://"+n.addr, client.Options{Encoding: enc,
			Token: ht.Token(t, "u", nil), Backoff: fastBackoff,
			OnState: func(sc client.StateChange) { smu.Lock(); states = append(states, sc); smu.Unlock() },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		if _, err := c.Subscribe(ctx(t), "chat:restart", b.opts()); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if _, err := c.Publish(ctx(t), "chat:restart", []byte(`"from the client"`)); err != nil {
				t.Fatal(err)
			}
		}
		b.wait(t, 5, 5*time.Second)
		n.stop(t)
		s2 := s.Restart(ht.Options{})
		startTCP(t, s2, n.addr, nil)
		for i := 5; i < 10; i++ {
			s2.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		msgs := b.wait(t, 10, 5*time.Second)
		checkRun(t, msgs, msgs[0].Offset)
		smu.Lock()
		defer smu.Unlock()
		var sawGoingAway, reconnected bool
		for i, sc := range states {
			if sc.State == client.StateDisconnected && sc.Code == protocol.CloseGoingAway {
				sawGoingAway = true
				for _, later := range states[i:] {
					reconnected = reconnected || later.State == client.StateConnected
				}
			}
		}
		if !sawGoingAway || !reconnected {
			t.Fatalf("states %+v", states)
		}
		if len(b.lost) != 0 {
			t.Fatalf("recovery reported lost: %+v", b.lost)
		}
	})
}

// TestTCPTerminalClose: a refusal's code reaches the caller through the
// disconnect push, as through a WebSocket close frame.
func TestTCPTerminalClose(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	n := startTCP(t, s, "127.0.0.1:0", nil)
	_, err := client.Dial(ctx(t), "tcp://"+n.addr, client.Options{Token: "not a token", Backoff: fastBackoff})
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseUnauthorized {
		t.Fatalf("dial with a bad token: %v", err)
	}
}

func TestTLSURL(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srv := ca.Server(t, "127.0.0.1")
	s := ht.Start(t, ht.Options{})
	n := startTCP(t, s, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv.TLS}, MinVersion: tls.VersionTLS12})
	// Without the CA, the server's certificate is not trusted.
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := client.Dial(short, "tls://"+n.addr, client.Options{Token: ht.Token(t, "u", nil), Backoff: fastBackoff}); err == nil {
		t.Fatal("connected to an untrusted certificate")
	}
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		c, err := client.Dial(ctx(t), "tls://"+n.addr, client.Options{Encoding: enc, Token: ht.Token(t, "u", nil),
			TLSConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		if _, err := c.Subscribe(ctx(t), "chat:tls", b.opts()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx(t), "chat:tls", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
		b.wait(t, 1, 5*time.Second)
	})
}
