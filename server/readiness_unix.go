//go:build unix

package server

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// enablePolling lets c wait for bytes without holding a read buffer (see
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
	// The callback of rc.Write for tryWriteFrame: write tryBuf from tryN
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
	// The callback of rc.Read: true once a read without waiting has
	// brought bytes, end of file or an error, all kept in c.prefetched for
	// the burst; false (nothing to read, and the pooled buffer given back)
	// makes rc.Read park until the runtime's poller sees the socket
	// readable, then ask again.
	c.readable = func(fd uintptr) bool {
		fr := c.takeReader()
		if !fr.src.Fill(fr.br, fd) {
			releaseReader(fr)
			return false
		}
		// Bytes, end of file or an error: the burst reads them from fr.
		c.prefetched = fr
		return true
	}
}
