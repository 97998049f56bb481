// Package sockwrite is the write-side state both client transports (the
// WebSocket one in server and the raw TCP one in server/tcp) keep for a
// socket: its moving write deadline, and what a write that timed out left
// unwritten.
//
// A write that times out on a socket that can be written again (plain
// TCP, not TLS, whose state a timed-out write corrupts) is a stall: the
// peer stopped reading for the write timeout. The rest of the frame is
// kept, so that the transport's last message (a close frame, a disconnect
// push) can still follow a whole frame rather than land inside one. Any
// other failure ends the connection and nothing is kept.
//
// A State is used with its transport's write lock held; it does not hold
// the socket, which its methods take, so that it adds nothing to a
// connection's memory beyond what it records.
package sockwrite

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/hub"
)

// maxKept bounds the pending buffer kept for reuse after it is flushed.
const maxKept = 64 << 10

// State is one socket's write-side state. Set Timeout and Resumable before
// the first write.
type State struct {
	// Timeout is how long a write may wait for the peer to read.
	Timeout  time.Duration
	deadline time.Time // the deadline last set on the socket
	// Pending is what must be written before anything else.
	Pending []byte
	// Failed records that a write failed for good (or the connection was
	// aborted): nothing more is written. Read without the write lock.
	Failed atomic.Bool
	// Resumable says the socket can be written again after a timed-out
	// write (plain TCP); false for TLS.
	Resumable bool
	// Stalled records that a write timed out on a resumable socket;
	// Pending then holds the rest of its frame.
	Stalled bool
}

// MoveDeadline keeps conn's write deadline ahead, moving it only when less
// than half of Timeout is left: moving a socket's deadline costs a runtime
// timer update, a measurable share of a fan-out's CPU, and every write
// still gets between half and all of Timeout.
func (s *State) MoveDeadline(conn net.Conn) {
	if now := time.Now(); s.deadline.Sub(now) < s.Timeout/2 {
		s.SetDeadline(conn, s.Timeout)
	}
}

// SetDeadline gives conn's writes d from now, whatever was set before: for
// a transport's last write, which may get less than Timeout.
func (s *State) SetDeadline(conn net.Conn, d time.Duration) {
	s.deadline = time.Now().Add(d)
	_ = conn.SetWriteDeadline(s.deadline)
}

// Flush writes Pending to conn.
func (s *State) Flush(conn net.Conn) error {
	if len(s.Pending) == 0 {
		return nil
	}
	s.MoveDeadline(conn)
	n, err := conn.Write(s.Pending)
	if err != nil {
		rest := copy(s.Pending, s.Pending[n:])
		s.Pending = s.Pending[:rest]
		return s.Fail(err, nil)
	}
	s.Pending = s.Pending[:0]
	if cap(s.Pending) > maxKept {
		s.Pending = nil
	}
	return nil
}

// Fail records a failed write; rest is what the write left of its frame,
// after Pending. A timeout on a resumable socket is a stall, reported as
// hub.ErrStalled with rest kept in Pending; any other failure marks the
// socket Failed and keeps nothing.
func (s *State) Fail(err error, rest [][]byte) error {
	if s.Resumable && errors.Is(err, os.ErrDeadlineExceeded) {
		s.Stalled = true
		for _, b := range rest {
			s.Pending = append(s.Pending, b...)
		}
		return fmt.Errorf("%w: %w", hub.ErrStalled, err)
	}
	s.Pending = nil
	s.Failed.Store(true)
	return err
}
