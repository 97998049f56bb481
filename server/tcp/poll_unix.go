//go:build unix

package tcp

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// enablePolling lets c's reader wait for bytes without holding a goroutine
// of its depth or a read buffer (reader.go), when its socket allows it: a
// plain TCP socket, not TLS.
func (c *conn) enablePolling(raw net.Conn) {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		c.poll = rc
	}
}

// readable is the callback of poll.Read: true once the socket has bytes,
// its end or an error, which a peek of one byte without waiting tells
// without taking anything; false (nothing yet) makes poll.Read park until
// the runtime's poller sees the socket readable, then ask again.
func readable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		return true
	}
}
