//go:build !unix

package server

import (
	"errors"
	"net"
)

// enablePolling is Unix-only; elsewhere every connection reads in a loop.
func (c *wsConn) enablePolling(net.Conn) {}

// readNow is never called where no socket is polled.
func readNow(int, []byte) (int, error) { return 0, errors.ErrUnsupported }
