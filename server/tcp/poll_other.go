//go:build !unix

package tcp

import "net"

// enablePolling is Unix-only; elsewhere every connection reads in a loop.
func (c *conn) enablePolling(net.Conn) {}

// readable is never called where no socket is polled.
func (r *reader) readable(uintptr) bool { return true }
