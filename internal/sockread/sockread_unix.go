//go:build unix

package sockread

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

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

func wouldBlock(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EWOULDBLOCK)
}
