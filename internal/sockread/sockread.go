// Package sockread is the read side the client transports share for a
// socket that waits for its next bytes without a reader of its own: a
// pooled read buffer reads a Source, which is the connection, or, while a
// waiter checks the socket, the socket itself without waiting. The check
// is then the read a blocking reader would have made, so waiting costs no
// system call of its own, and what it read is the next burst's first
// bytes.
package sockread

import (
	"bufio"
	"io"
)

// Source is what a pooled read buffer reads. The zero value reads
// nothing: set Conn, and FD to -1.
type Source struct {
	// Conn is the connection, read when FD is -1.
	Conn io.Reader
	// FD is the socket while a waiter reads it without waiting, else -1.
	FD int
	// Err is what the waiter's read failed with, for the next reader.
	Err error
}

// Read reads the pending error once, else the socket without waiting
// (while FD is set), else the connection.
func (s *Source) Read(p []byte) (int, error) {
	switch {
	case s.Err != nil:
		err := s.Err
		s.Err = nil
		return 0, err
	case s.FD >= 0:
		return readNow(s.FD, p)
	}
	return s.Conn.Read(p)
}

// Fill is a readiness check for a callback of syscall.RawConn.Read: one
// read of the socket fd, without waiting, into br, which reads s. It
// reports true once that read brought bytes, the end of the stream or an
// error (kept in s for br's next read), and false when nothing was there
// yet: the caller gives br back and waits again.
func (s *Source) Fill(br *bufio.Reader, fd uintptr) bool {
	s.FD = int(fd)
	_, err := br.Peek(1)
	s.FD = -1
	if wouldBlock(err) {
		return false
	}
	s.Err = err
	return true
}
