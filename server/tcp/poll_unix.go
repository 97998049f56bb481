//go:build unix

package tcp

import (
	"errors"
	"io"
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

// readable is the callback of poll.Read: true once a read without waiting
// has brought bytes, the end of the stream or an error, all kept in a
// pooled read buffer for the burst (r.prefetched); false (nothing yet, and
// the buffer given back) makes poll.Read park until the runtime's poller
// sees the socket readable, then ask again.
func (r *reader) readable(fd uintptr) bool {
	rb := getReader(r.c.raw)
	rb.src.fd = int(fd)
	_, err := rb.br.Peek(1) // one read(2) into the buffer
	rb.src.fd = -1
	if errors.Is(err, unix.EAGAIN) {
		putReader(rb)
		return false
	}
	rb.src.err = err
	r.prefetched = rb
	return true
}

// readNow reads the socket fd once without waiting, as net.Conn's Read
// would: the end of the stream is io.EOF, EAGAIN means nothing is there
// yet.
func readNow(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
