//go:build !unix

package server

import "net"

// enablePolling is Unix-only; elsewhere every connection reads in a loop.
func (c *wsConn) enablePolling(net.Conn) {}
