//go:build !linux

package server

// Without epoll every polled connection keeps its waiter goroutine
// (reader.go); these are the event loop's hooks, doing nothing.

// eventLoops is empty where there is no event loop.
type eventLoops struct{}

// loopEntry is empty where there is no event loop.
type loopEntry struct{}

func newEventLoops() *eventLoops { return nil }

func (*eventLoops) close() {}

func (c *wsConn) watch(bool) bool { return false }
func (c *wsConn) rearm() bool     { return false }
func (c *wsConn) unwatch()        {}
func (c *wsConn) wake()           {}
func (c *wsConn) forget()         {}

// prefetch is never reached: the waiter has read before every burst.
func (c *wsConn) prefetch() bool { return true }

func (*eventLoops) armed() int    { return 0 }
func (*eventLoops) running() bool { return false }
