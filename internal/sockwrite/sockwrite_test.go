package sockwrite

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
)

// TestFail: a timeout on a resumable socket is a stall that keeps the rest
// of the frame; on TLS, or any other error, the socket has failed and
// nothing is kept.
func TestFail(t *testing.T) {
	timeout := fmt.Errorf("write: %w", os.ErrDeadlineExceeded)
	s := State{Resumable: true, Pending: []byte("a")}
	err := s.Fail(timeout, [][]byte{[]byte("b"), []byte("c")})
	if !errors.Is(err, hub.ErrStalled) || !s.Stalled || string(s.Pending) != "abc" || s.Failed.Load() {
		t.Fatalf("stall: err %v, stalled %v, pending %q, failed %v", err, s.Stalled, s.Pending, s.Failed.Load())
	}
	for _, c := range []struct {
		name      string
		resumable bool
		err       error
	}{{"TLS timeout", false, timeout}, {"reset", true, errors.New("connection reset")}} {
		s := State{Resumable: c.resumable, Pending: []byte("a")}
		if err := s.Fail(c.err, [][]byte{[]byte("b")}); errors.Is(err, hub.ErrStalled) || s.Stalled || s.Pending != nil || !s.Failed.Load() {
			t.Fatalf("%s: err %v, stalled %v, pending %q, failed %v", c.name, err, s.Stalled, s.Pending, s.Failed.Load())
		}
	}
}

// TestFlush: what is pending goes out first and whole; a peer that does
// not read leaves the unwritten part pending, as a stall.
func TestFlush(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := State{Timeout: 50 * time.Millisecond, Resumable: true, Pending: []byte("hello")}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 5)
		n, _ := b.Read(buf)
		got <- string(buf[:n])
	}()
	if err := s.Flush(a); err != nil || len(s.Pending) != 0 {
		t.Fatalf("flush: %v, pending %q", err, s.Pending)
	}
	if g := <-got; g != "hello" {
		t.Fatalf("the peer read %q", g)
	}
	s.Pending = append(s.Pending, "unread"...)
	if err := s.Flush(a); !errors.Is(err, hub.ErrStalled) || !s.Stalled || string(s.Pending) != "unread" {
		t.Fatalf("flush to a peer that does not read: %v, stalled %v, pending %q", err, s.Stalled, s.Pending)
	}
}
