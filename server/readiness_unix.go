//go:build unix

package server

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// enablePolling lets c wait for readability without reading (see
// reader.go) when its socket allows it: a plain TCP or Unix socket, not a
// TLS connection, whose buffered records the socket cannot see.
func (c *wsConn) enablePolling(conn net.Conn) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.poll = rc
	// The callback of rc.Read: true once the socket has a byte to read,
	// has reached end of file or has failed, without consuming anything;
	// false makes rc.Read park until the runtime's poller sees the socket
	// readable, then ask again.
	// The callback of rc.Write for TryWriteFrame: write tryBuf from tryN
	// on until done or the socket is full, and never wait.
	c.tryWrite = func(fd uintptr) bool {
		for c.tryN < len(c.tryBuf) {
			n, err := unix.Write(int(fd), c.tryBuf[c.tryN:])
			if n > 0 {
				c.tryN += n
			}
			switch {
			case err == unix.EINTR:
			case err == unix.EAGAIN || err == unix.EWOULDBLOCK || n == 0:
				return true
			case err != nil:
				c.tryErr = err
				return true
			}
		}
		return true
	}
	c.readable = func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), c.peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN && err != unix.EWOULDBLOCK
	}
}
