package server

// IdleInEventLoop returns how many connections wait in the event loop,
// with no goroutine of their own (always 0 where there is none).
func (s *Server) IdleInEventLoop() int { return s.loops.armed() }

// EventLoopRunning reports whether the event loop's goroutine exists.
func (s *Server) EventLoopRunning() bool { return s.loops.running() }
