//go:build unix

package sockread_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/sockread"
	"github.com/heraldhq/herald/internal/wait"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// fill runs Fill once on the socket, as a waiter's readiness callback.
func fill(t *testing.T, c net.Conn, src *sockread.Source, br *bufio.Reader) bool {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ready bool
	// A callback that returns true ends Read at once: one check.
	if err := rc.Read(func(fd uintptr) bool { ready = src.Fill(br, fd); return true }); err != nil {
		t.Fatal(err)
	}
	return ready
}

// ready waits until Fill reports the socket ready.
func ready(t *testing.T, c net.Conn, src *sockread.Source, br *bufio.Reader) {
	t.Helper()
	wait.For(t, 5*time.Second, func() error {
		if fill(t, c, src, br) {
			return nil
		}
		return errors.New("the socket is not ready")
	})
}

// TestFill: nothing there is not ready and reads nothing; bytes are ready
// and the next read gets them; the peer's close is ready and reads as the
// end of the stream.
func TestFill(t *testing.T) {
	server, client := pair(t)
	src := &sockread.Source{Conn: server, FD: -1}
	br := bufio.NewReader(src)
	if fill(t, server, src, br) {
		t.Fatal("ready with nothing sent")
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	ready(t, server, src, br)
	if br.Buffered() == 0 {
		t.Fatal("ready, but nothing read")
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hello" {
		t.Fatalf("read %q, %v", got, err)
	}
	client.Close()
	ready(t, server, src, br)
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the peer closed: %v, want EOF", err)
	}
}
