//go:build linux

package server

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The event loop: on Linux an idle connection has no goroutine at all.
//
// Its socket is registered in an epoll instance of the server's own, with
// EPOLLONESHOT: the first readiness after an arming is reported once, then
// the socket stays silent until its reader arms it again. One goroutine
// per instance, parked in the runtime's poller on the epoll descriptor
// itself (an epoll instance is readable while it has events), collects the
// ready sockets and hands each to a burst (reader.go); the burst re-arms
// its socket when no bytes remain, and arming re-checks readiness, so bytes
// that arrived in between are reported at once.
//
// Who reads a connection is decided by its pollState: armed while it waits
// in the loop, busy while a burst (or the fallback waiter) owns it. Taking
// it is a compare-and-swap from armed to busy, so of a loop event, a close
// and a failed re-arm exactly one wins, and a connection's messages stay
// one at a time, in order; an event for a connection that is busy is
// dropped (the burst re-arms it when done).
//
// Events name a connection by a token, never by its descriptor: a closed
// socket's number is reused by the next accepted one, while an event for
// the old one may still be in flight. epoll_ctl runs inside the socket's
// and the epoll descriptor's RawConn.Control, which keep either from being
// closed meanwhile (and fail once they are), so a re-arm or a removal can
// never reach a reused number. A socket leaves the loop before it closes.
//
// A connection that cannot use the loop (TLS, or an epoll call that fails)
// keeps the goroutine waiter of reader.go.

// Connection reading states, c.pollState.
const (
	pollBusy  = iota // a burst or the waiter owns the reading
	pollArmed        // waiting in the event loop
)

// armedEvents is what an armed socket waits for: bytes, the peer's end of
// file, and (always reported) an error or hang-up.
const armedEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// maxLoopEvents is how many ready sockets the loop takes per epoll_wait.
const maxLoopEvents = 128

// eventLoops is the server's event loop and the connections registered in
// it. The loop starts with its first connection and stops with its last,
// so a server without WebSocket connections keeps no goroutine.
type eventLoops struct {
	mu     sync.Mutex
	loop   *eventLoop
	conns  map[uint64]*wsConn // by token
	next   uint64             // the last token given
	closed bool               // Shutdown: no more loops
}

// loopEntry is a connection's place in the event loop.
type loopEntry struct {
	loop  atomic.Pointer[eventLoop] // nil until registered
	token uint64                    // its name in the loop's events
}

// eventLoop is one epoll instance and the goroutine that waits on it.
type eventLoop struct {
	file *os.File // the epoll descriptor, registered in the runtime's poller
	rc   syscall.RawConn
}

func newEventLoops() *eventLoops {
	return &eventLoops{conns: make(map[uint64]*wsConn)}
}

// newEventLoop creates an epoll instance and starts its goroutine.
func (ls *eventLoops) newEventLoop() (*eventLoop, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so os.NewFile puts it in the runtime's poller.
	file := os.NewFile(uintptr(fd), "herald-epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	l := &eventLoop{file: file, rc: rc}
	go l.run(ls)
	return l, nil
}

// run hands each ready connection to a burst until the loop is closed.
func (l *eventLoop) run(ls *eventLoops) {
	events := make([]unix.EpollEvent, maxLoopEvents)
	n := 0
	// Called by rc.Read: true with events to hand out; false parks the
	// goroutine until the runtime's poller sees the instance readable. It
	// returns false only when epoll_wait found nothing, so no readiness
	// edge is missed.
	collect := func(epfd uintptr) bool {
		var err error
		n, err = unix.EpollWait(int(epfd), events, 0)
		return err == nil && n > 0
	}
	for {
		if err := l.rc.Read(collect); err != nil {
			return // closed
		}
		for _, ev := range events[:n] {
			c := ls.lookup(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32)
			if c != nil && c.pollState.CompareAndSwap(pollArmed, pollBusy) {
				c.bursts.run(c)
			}
		}
	}
}

func (ls *eventLoops) lookup(token uint64) *wsConn {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.conns[token]
}

// watch registers c in the loop, armed when no burst is about to run, and
// reports whether it did; when it did not, c keeps the waiter.
func (ls *eventLoops) watch(c *wsConn, armed bool) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return false
	}
	if ls.loop == nil {
		l, err := ls.newEventLoop()
		if err != nil {
			return false
		}
		ls.loop = l
	}
	ls.next++
	c.inLoop.token = ls.next
	var events uint32 = unix.EPOLLONESHOT // registered, silent until armed
	if armed {
		events = armedEvents
		c.pollState.Store(pollArmed)
	}
	if err := c.epollCtl(ls.loop, unix.EPOLL_CTL_ADD, events); err != nil {
		c.pollState.Store(pollBusy)
		ls.stopIfEmpty()
		return false
	}
	ls.conns[c.inLoop.token] = c
	c.inLoop.loop.Store(ls.loop)
	return true
}

// forget removes c, which has ended, from the registry.
func (ls *eventLoops) forget(c *wsConn) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	delete(ls.conns, c.inLoop.token)
	ls.stopIfEmpty()
}

// stopIfEmpty closes the loop when no connection is registered, with mu
// held.
func (ls *eventLoops) stopIfEmpty() {
	if len(ls.conns) == 0 && ls.loop != nil {
		ls.loop.file.Close()
		ls.loop = nil
	}
}

// close stops the loop for good (Shutdown): the connections still armed
// in it go back to waiter goroutines, and later ones never join it.
func (ls *eventLoops) close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	for _, c := range ls.conns {
		if c.pollState.CompareAndSwap(pollArmed, pollBusy) {
			go c.wait()
		}
	}
	if ls.loop != nil {
		ls.loop.file.Close()
		ls.loop = nil
	}
}

// epollCtl runs epoll_ctl for c's socket in l, with both descriptors held
// open; it fails once either is closed.
func (c *wsConn) epollCtl(l *eventLoop, op int, events uint32) error {
	var err error
	cerr := c.poll.Control(func(fd uintptr) {
		lerr := l.rc.Control(func(epfd uintptr) {
			ev := unix.EpollEvent{Events: events, Fd: int32(uint32(c.inLoop.token)), Pad: int32(uint32(c.inLoop.token >> 32))}
			err = unix.EpollCtl(int(epfd), op, int(fd), &ev)
		})
		if err == nil {
			err = lerr
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// watch puts c in the server's event loop when its socket allows it: armed
// when no burst is about to run (first is false), else registered for the
// burst to arm. It reports false for a connection that keeps the waiter.
func (c *wsConn) watch(burstFirst bool) bool {
	if c.loops == nil {
		return false
	}
	return c.loops.watch(c, !burstFirst)
}

// rearm arms c in the loop again after a burst and reports whether the
// loop (or a close racing with it) now has the connection; false means
// the caller still owns the reading and starts a waiter.
func (c *wsConn) rearm() bool {
	l := c.inLoop.loop.Load()
	if l == nil {
		return false
	}
	c.pollState.Store(pollArmed)
	if c.epollCtl(l, unix.EPOLL_CTL_MOD, armedEvents) == nil {
		return true
	}
	// Closed, or the loop stopped. Unless a close has taken the reading
	// already, the waiter does: its read fails at once on a closed socket.
	return !c.pollState.CompareAndSwap(pollArmed, pollBusy)
}

// unwatch removes c's socket from the loop before it closes.
func (c *wsConn) unwatch() {
	if l := c.inLoop.loop.Load(); l != nil {
		_ = c.epollCtl(l, unix.EPOLL_CTL_DEL, 0)
	}
}

// wake takes the reading of a connection armed in the loop, after its
// socket was closed, and runs the burst that ends it.
func (c *wsConn) wake() {
	if c.pollState.CompareAndSwap(pollArmed, pollBusy) {
		c.bursts.run(c)
	}
}

// forget removes an ended connection from the loop's registry.
func (c *wsConn) forget() {
	if c.inLoop.loop.Load() != nil {
		c.loops.forget(c)
	}
}

// prefetch reads what the socket holds without waiting, for a burst the
// loop started: false when there was nothing (the reader went back to its
// pool). A closed socket counts as something, for the burst to end.
func (c *wsConn) prefetch() bool {
	got := true
	err := c.poll.Control(func(fd uintptr) { got = c.readable(fd) })
	return err != nil || got
}

// armed counts the connections waiting in the loop, for tests.
func (ls *eventLoops) armed() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	n := 0
	for _, c := range ls.conns {
		if c.pollState.Load() == pollArmed {
			n++
		}
	}
	return n
}

// running reports whether a loop goroutine exists, for tests.
func (ls *eventLoops) running() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.loop != nil
}
