//go:build unix

package tcp

import (
	"net"
	"syscall"
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

// readable is the callback of poll.Read: true once a read without waiting
// has brought bytes, the end of the stream or an error, all kept in a
// pooled read buffer for the burst (r.prefetched); false (nothing yet, and
// the buffer given back) makes poll.Read park until the runtime's poller
// sees the socket readable, then ask again.
func (r *reader) readable(fd uintptr) bool {
	rb := getReader(r.c.raw)
	if !rb.src.Fill(rb.br, fd) {
		putReader(rb)
		return false
	}
	r.prefetched = rb
	return true
}
