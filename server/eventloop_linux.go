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
// per instance, blocked in epoll_wait on a thread of its own, collects the
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
	file *os.File // the epoll descriptor; closed by run as it returns
	rc   syscall.RawConn
	// wake is an eventfd in the instance, written to stop the loop; an
	// os.File, so that a write after run closed it fails rather than
	// reach a descriptor that reused its number.
	wake *os.File
	stop atomic.Bool
}

func newEventLoops() *eventLoops {
	return &eventLoops{conns: make(map[uint64]*wsConn)}
}

// wakeToken names the loop's eventfd in events; connections' tokens
// start at 1.
const wakeToken = 0

// newEventLoop creates an epoll instance and starts its goroutine.
func (ls *eventLoops) newEventLoop() (*eventLoop, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeToken}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(fd)
		unix.Close(wake)
		return nil, err
	}
	// A blocking descriptor: os.NewFile keeps it out of the runtime's
	// poller, and RawConn.Control counts its users.
	file := os.NewFile(uintptr(fd), "herald-epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		unix.Close(wake)
		return nil, err
	}
	l := &eventLoop{file: file, rc: rc, wake: os.NewFile(uintptr(wake), "herald-epoll-wake")}
	go l.run(ls)
	return l, nil
}

// run hands each ready connection to a burst until the loop is stopped.
// It blocks in epoll_wait on a thread of its own: parking on the epoll
// descriptor in the runtime's poller instead (an epoll instance is
// readable while it has events) cost 250-300 µs per wake-up in an echo
// round trip (BenchmarkEchoRoundTrip), against none for a thread in
// epoll_wait.
func (l *eventLoop) run(ls *eventLoops) {
	defer func() {
		l.file.Close()
		l.wake.Close()
	}()
	events := make([]unix.EpollEvent, maxLoopEvents)
	var n int
	var err error
	wait := func(epfd uintptr) { n, err = unix.EpollWait(int(epfd), events, -1) }
	for {
		if cerr := l.rc.Control(wait); cerr != nil || l.stop.Load() {
			return
		}
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			// Not expected of epoll_wait with a valid buffer: the
			// connections go back to waiters rather than wait forever.
			ls.abandon(l)
			return
		}
		for _, ev := range events[:n] {
			token := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if token == wakeToken {
				continue
			}
			c := ls.lookup(token)
			if c != nil && c.pollState.CompareAndSwap(pollArmed, pollBusy) {
				c.bursts.Run(c)
			}
		}
	}
}

// close stops the loop: its goroutine returns and closes the instance.
func (l *eventLoop) close() {
	l.stop.Store(true)
	one := [8]byte{1} // a uint64 to add to the counter: any but 0 wakes
	_, _ = l.wake.Write(one[:])
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
		ls.loop.close()
		ls.loop = nil
	}
}

// abandon gives up l, whose epoll_wait failed: its armed connections go to
// waiter goroutines and a later connection starts a new loop.
func (ls *eventLoops) abandon(l *eventLoop) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.loop == l {
		ls.loop = nil
	}
	l.stop.Store(true)
	for _, c := range ls.conns {
		if c.inLoop.loop.Load() == l && c.pollState.CompareAndSwap(pollArmed, pollBusy) {
			go c.wait()
		}
	}
}

// close stops the loop for good (Shutdown): the connections still armed
// in it go back to waiter goroutines, and later ones never join it.
func (ls *eventLoops) close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	if ls.loop != nil {
		// Stopped before the connections are taken back: a re-arm racing
		// with this sees either (see rearm).
		ls.loop.stop.Store(true)
	}
	for _, c := range ls.conns {
		if c.pollState.CompareAndSwap(pollArmed, pollBusy) {
			go c.wait()
		}
	}
	if ls.loop != nil {
		ls.loop.close()
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
	if c.epollCtl(l, unix.EPOLL_CTL_MOD, armedEvents) == nil && !l.stop.Load() {
		return true
	}
	// Closed, or the loop stopped (its instance may outlive the stop for
	// a moment, but nothing reads it). Unless a close has taken the
	// reading already, the waiter does: its read fails at once on a
	// closed socket.
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
		c.bursts.Run(c)
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
