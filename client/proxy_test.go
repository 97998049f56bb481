package client_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy is a TCP forwarder in front of a server, so tests can cut the
// network under a client (Cut) or make it go silent (Freeze) while the
// server stays up.
type proxy struct {
	t      *testing.T
	l      net.Listener
	target string
	frozen atomic.Bool
	// down refuses new connections (closes them at once) until Up.
	down atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the proxied WebSocket endpoint.
func (p *proxy) URL() string { return "ws://" + p.l.Addr().String() + "/ws" }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(out, in, false)
		go p.pipe(in, out, true)
	}
}

// pipe copies src to dst; the server-to-client direction drops data while
// the proxy is frozen.
func (p *proxy) pipe(dst, src net.Conn, toClient bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !(toClient && p.frozen.Load()) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			if err != io.EOF {
				break
			}
			break
		}
	}
	dst.Close()
	src.Close()
}

// Cut drops every proxied connection at once, as a network failure would.
func (p *proxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // reset, not a clean close
		}
		c.Close()
	}
}

// Down cuts every connection and refuses new ones until Up: the network
// is gone for as long as the test needs, however slow the machine.
func (p *proxy) Down() {
	p.down.Store(true)
	p.Cut()
}

// Up accepts connections again.
func (p *proxy) Up() { p.down.Store(false) }

// Freeze stops server-to-client traffic on every connection (new ones too)
// until Thaw, leaving the sockets open: a half-dead network.
func (p *proxy) Freeze() { p.frozen.Store(true) }

// Thaw undoes Freeze.
func (p *proxy) Thaw() { p.frozen.Store(false) }

func (p *proxy) close() {
	p.l.Close()
	p.Cut()
	p.wg.Wait()
}
