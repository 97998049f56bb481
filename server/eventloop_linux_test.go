//go:build linux

package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// The event loop over real sockets: echo connections (every message comes
// back) read through the loop, the bursts and the waiter fallback.

type loopFixture struct {
	loops  *eventLoops
	bursts *burstPool
	ln     net.Listener
}

func newLoopFixture(t *testing.T) *loopFixture {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &loopFixture{loops: newEventLoops(), bursts: newBurstPool(), ln: ln}
	// Every burst ends in the loop: these tests are about the loop, not
	// about which connections skip it (TestBusyConnectionsKeepWaiters).
	f.bursts.busyBursts = 255
	t.Cleanup(func() {
		ln.Close()
		f.loops.close()
		f.bursts.Close()
	})
	return f
}

// loopConn is one connection: the server's side and the client's socket.
type loopConn struct {
	c      *wsConn
	client net.Conn
	ended  chan struct{}
}

// connect accepts a connection and starts reading it as the server does.
func (f *loopFixture) connect(t *testing.T) *loopConn {
	t.Helper()
	client, err := net.Dial("tcp", f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	srv, err := f.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := &wsConn{
		raw:        &halfCloseConn{Conn: srv},
		enc:        protocol.JSON,
		maxMessage: 1 << 16,
		bursts:     f.bursts,
		panicked:   func(v any) { t.Errorf("panic reading frames: %v", v) },
		handle:     echoMessage,
	}
	c.w.Timeout = 5 * time.Second
	c.onControl = c.control
	c.enablePolling(srv)
	c.loops = f.loops
	lc := &loopConn{c: c, client: client, ended: make(chan struct{})}
	c.start(nil, func() { close(lc.ended) })
	return lc
}

// frame is one masked client text frame.
func frame(payload string) []byte {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewTextFrame([]byte(payload))))
	return b.Bytes()
}

func (lc *loopConn) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := lc.client.Write(b); err != nil {
		t.Fatal(err)
	}
}

// expect reads the next frame and checks it is the echo of want.
func (lc *loopConn) expect(t *testing.T, want string) {
	t.Helper()
	_ = lc.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr, err := ws.ReadHeader(lc.client)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if hdr.Length > 1<<10 {
		t.Fatalf("a %d-byte echo, want %q", hdr.Length, want)
	}
	payload := make([]byte, hdr.Length)
	if _, err := io.ReadFull(lc.client, payload); err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if got := string(payload); got != want {
		t.Fatalf("echo %q, want %q", got, want)
	}
}

// armed waits until the connection waits in the loop, with no goroutine.
func (lc *loopConn) armed(t *testing.T) {
	t.Helper()
	wait.For(t, 5*time.Second, func() error {
		if s := lc.c.pollState.Load(); s != pollArmed {
			return fmt.Errorf("poll state %d, want armed", s)
		}
		return nil
	})
}

func (lc *loopConn) waitEnded(t *testing.T, what string) {
	t.Helper()
	select {
	case <-lc.ended:
	case <-time.After(10 * time.Second):
		t.Fatalf("the connection did not end after %s", what)
	}
}

// TestEventLoopReadsInOrder: pipelined messages, a message split across
// packets and messages on several connections come back whole and in
// order, and each connection is armed in the loop between its bursts.
func TestEventLoopReadsInOrder(t *testing.T) {
	f := newLoopFixture(t)
	conns := []*loopConn{f.connect(t), f.connect(t), f.connect(t)}
	for i, lc := range conns {
		lc.armed(t)
		var packet []byte
		for j := range 50 {
			packet = append(packet, frame(fmt.Sprintf("conn %d message %d", i, j))...)
		}
		lc.write(t, packet)
	}
	for i, lc := range conns {
		for j := range 50 {
			lc.expect(t, fmt.Sprintf("conn %d message %d", i, j))
		}
		lc.armed(t)
	}
	if n := f.loops.armed(); n != len(conns) {
		t.Fatalf("%d connections armed in the loop, want %d", n, len(conns))
	}

	lc := conns[0]
	split := frame("a message in three packets")
	for _, part := range [][]byte{split[:1], split[1:7], split[7:]} {
		lc.write(t, part)
		time.Sleep(20 * time.Millisecond) // a pause on purpose: each part arrives as its own packet
	}
	lc.expect(t, "a message in three packets")
	lc.armed(t)
}

// TestBusyConnectionsKeepWaiters: a connection with busyBursts bursts
// within a second waits in a waiter goroutine, not in the loop, and is
// served as well there; before that (a connect and a subscribe) it goes to
// the loop.
func TestBusyConnectionsKeepWaiters(t *testing.T) {
	f := newLoopFixture(t)
	f.bursts.busyBursts = busyBursts
	lc := f.connect(t)
	for i := range busyBursts - 1 {
		msg := "quiet " + strconv.Itoa(i)
		lc.write(t, frame(msg))
		lc.expect(t, msg)
		lc.armed(t)
	}
	lc.write(t, frame("busy"))
	lc.expect(t, "busy")
	wait.For(t, 5*time.Second, func() error {
		if w := waitersParked(); w != 1 {
			return fmt.Errorf("%d waiter goroutines parked, want 1", w)
		}
		return nil
	})
	if s := lc.c.pollState.Load(); s != pollBusy {
		t.Fatalf("poll state %d, want busy (a waiter reads it)", s)
	}
	lc.write(t, frame("served"))
	lc.expect(t, "served")
}

// waitersParked counts the goroutines parked in a waiter's readiness wait.
func waitersParked() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "server.(*wsConn).wait(")
}

// TestEventLoopSpuriousReadiness: a burst the loop starts for a socket
// with nothing to read arms it again and parks nothing.
func TestEventLoopSpuriousReadiness(t *testing.T) {
	f := newLoopFixture(t)
	lc := f.connect(t)
	lc.armed(t)
	if !lc.c.pollState.CompareAndSwap(pollArmed, pollBusy) {
		t.Fatal("could not take the connection")
	}
	f.bursts.Run(lc.c) // as the loop does
	lc.armed(t)
	lc.write(t, frame("still served"))
	lc.expect(t, "still served")
}

// TestEventLoopEnds: a connection armed in the loop ends when the peer
// closes or resets it, when the server aborts it, and when the server
// closes it and the peer never answers the close frame (after
// closeTimeout); the loop's goroutine stops with the last connection.
func TestEventLoopEnds(t *testing.T) {
	f := newLoopFixture(t)
	for _, how := range []string{"peer end of file", "peer reset", "abort", "close, peer silent"} {
		t.Run(how, func(t *testing.T) {
			lc := f.connect(t)
			lc.write(t, frame("hello"))
			lc.expect(t, "hello")
			lc.armed(t)
			switch how {
			case "peer end of file":
				lc.client.Close()
			case "peer reset":
				lc.client.(*net.TCPConn).SetLinger(0)
				lc.client.Close()
			case "abort":
				lc.c.Abort()
			case "close, peer silent":
				lc.c.Close(protocol.CloseNormal, "bye")
			}
			lc.waitEnded(t, how)
			wait.For(t, 5*time.Second, func() error {
				if f.loops.running() {
					return fmt.Errorf("the loop still runs with no connection")
				}
				return nil
			})
		})
	}
}

// TestEventLoopDescriptorReuse: a socket number reused by a new connection
// after the old one closed is not touched by what the old connection
// still does (a removal, an event in flight): the new connection keeps
// its own registration.
func TestEventLoopDescriptorReuse(t *testing.T) {
	f := newLoopFixture(t)
	keep := f.connect(t) // keeps the loop running across the swap
	keep.armed(t)
	var old, reused *loopConn
	for range 20 {
		old = f.connect(t)
		old.armed(t)
		oldFD, oldToken := socketFD(t, old.c), old.c.inLoop.token
		old.c.Abort()
		old.waitEnded(t, "abort")
		old.client.Close()
		lc := f.connect(t)
		lc.armed(t)
		if socketFD(t, lc.c) != oldFD {
			continue
		}
		reused = lc
		if reused.c.inLoop.token == oldToken {
			t.Fatal("the new connection has the old one's token")
		}
		if f.loops.lookup(oldToken) != nil {
			t.Fatal("an event for the old connection would still find it")
		}
		break
	}
	if reused == nil {
		t.Fatal("no accepted socket reused a closed one's number in 20 tries")
	}
	old.c.unwatch() // a late removal through the closed connection
	old.c.wake()
	reused.write(t, frame("mine"))
	reused.expect(t, "mine")
	reused.armed(t)
	reused.write(t, frame("still mine"))
	reused.expect(t, "still mine")
}

// socketFD returns the number of c's socket.
func socketFD(t *testing.T, c *wsConn) int {
	t.Helper()
	fd := -1
	if err := c.poll.Control(func(s uintptr) { fd = int(s) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestEventLoopClose: closing the loop (Shutdown) hands the connections
// armed in it to waiter goroutines, which go on serving them; later
// connections use waiters from the start.
func TestEventLoopClose(t *testing.T) {
	f := newLoopFixture(t)
	conns := []*loopConn{f.connect(t), f.connect(t)}
	for _, lc := range conns {
		lc.armed(t)
	}
	f.loops.close()
	if f.loops.running() {
		t.Fatal("the loop runs after close")
	}
	conns = append(conns, f.connect(t))
	for i, lc := range conns {
		msg := "after close " + strconv.Itoa(i)
		lc.write(t, frame(msg))
		lc.expect(t, msg)
		// Not left armed in the stopped loop (a re-arm racing with it
		// may be, for a moment, before it takes the reading back).
		wait.For(t, 5*time.Second, func() error {
			if s := lc.c.pollState.Load(); s != pollBusy {
				return fmt.Errorf("connection %d: poll state %d after the loop closed", i, s)
			}
			return nil
		})
	}
	for _, lc := range conns {
		lc.client.Close()
		lc.waitEnded(t, "the peer's close")
	}
}

// BenchmarkEchoRoundTrip: 128-byte echo round trips over loopback, a
// connection read through the event loop against one read through a
// waiter goroutine per wait (the fallback, and the previous design), with
// 1 and 50 connections busy at once.
func BenchmarkEchoRoundTrip(b *testing.B) {
	for _, conns := range []int{1, 50} {
		for _, mode := range []string{"loop", "waiter"} {
			b.Run(fmt.Sprintf("mode=%s/conns=%d", mode, conns), func(b *testing.B) {
				benchEcho(b, mode == "loop", conns)
			})
		}
	}
}

func benchEcho(b *testing.B, useLoop bool, conns int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	loops, bursts := newEventLoops(), newBurstPool()
	bursts.busyBursts = 255 // the loop's own cost, for every message
	defer bursts.Close()
	defer loops.close()
	clients := make([]net.Conn, conns)
	for i := range clients {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		srv, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		c := &wsConn{raw: &halfCloseConn{Conn: srv}, enc: protocol.JSON, maxMessage: 1 << 16,
			bursts: bursts, panicked: func(any) {}, handle: echoMessage}
		c.w.Timeout = 5 * time.Second
		c.onControl = c.control
		c.enablePolling(srv)
		if useLoop {
			c.loops = loops
		}
		c.start(nil, func() {})
		clients[i] = client
	}
	msg := frame(string(bytes.Repeat([]byte{'x'}, 128)))
	b.SetBytes(128)
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, client := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for next.Add(1) <= int64(b.N) {
				if _, err := client.Write(msg); err != nil {
					b.Error(err)
					return
				}
				// The echo has a 4-byte header: 128 > 125.
				if _, err := io.ReadFull(client, buf[:4+128]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
