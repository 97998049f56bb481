package heraldtest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Balancer is a TCP load balancer in front of several nodes, as a cluster
// runs in production: each new connection goes to the next node in turn,
// skipping nodes that refuse it. A node that goes away takes its
// connections with it; clients reconnect through the balancer and land on
// another node.
type Balancer struct {
	l        net.Listener
	backends []string

	mu    sync.Mutex
	next  int
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewBalancer listens on a loopback port in front of backends (host:port)
// and closes when the test ends.
func NewBalancer(t testing.TB, backends ...string) *Balancer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &Balancer{l: l, backends: backends, conns: make(map[net.Conn]struct{})}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.Close)
	return b
}

// Addr is the balancer's host:port.
func (b *Balancer) Addr() string { return b.l.Addr().String() }

// Close stops accepting, cuts every proxied connection and waits for the
// copying goroutines.
func (b *Balancer) Close() {
	b.l.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *Balancer) accept() {
	defer b.wg.Done()
	for {
		in, err := b.l.Accept()
		if err != nil {
			return
		}
		out := b.dial()
		if out == nil {
			in.Close()
			continue
		}
		b.mu.Lock()
		b.conns[in], b.conns[out] = struct{}{}, struct{}{}
		b.mu.Unlock()
		var pair sync.WaitGroup
		pair.Add(2)
		b.wg.Add(3)
		go b.pipe(out, in, &pair)
		go b.pipe(in, out, &pair)
		go func() {
			defer b.wg.Done()
			pair.Wait()
			b.forget(in, out)
		}()
	}
}

// dial connects to the next node that accepts, or returns nil when none does.
func (b *Balancer) dial() net.Conn {
	for range b.backends {
		b.mu.Lock()
		addr := b.backends[b.next%len(b.backends)]
		b.next++
		b.mu.Unlock()
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return c
		}
	}
	return nil
}

// pipe copies src to dst. At src's end of stream it half-closes dst, so a
// graceful WebSocket close (close frame, FIN, the peer's close frame) passes
// through intact; on an error it cuts both.
func (b *Balancer) pipe(dst, src net.Conn, pair *sync.WaitGroup) {
	defer b.wg.Done()
	defer pair.Done()
	if _, err := io.Copy(dst, src); err == nil {
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
			return
		}
	}
	dst.Close()
	src.Close()
}

// forget closes and drops a pair once both directions have ended.
func (b *Balancer) forget(a, c net.Conn) {
	a.Close()
	c.Close()
	b.mu.Lock()
	delete(b.conns, a)
	delete(b.conns, c)
	b.mu.Unlock()
}
