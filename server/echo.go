package server

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldhq/herald/protocol"
)

// serveEcho serves the diagnostic echo endpoint. An echo connection is a
// client connection like one on /ws as far as limits go: the connect rate,
// MaxConnections and MaxConnectionsPerIP hold for both together, and one
// that stays silent is closed (echoWatch).
func (s *Server) serveEcho(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	c, first, ok := s.upgrade(w, r, "", protocol.JSON)
	if !ok {
		return
	}
	release, admitted := s.countClient(r)
	if !admitted {
		c.Close(protocol.DisconnectConnectionLimit.Code, protocol.DisconnectConnectionLimit.Reason)
		s.readLoop(c, first, release)
		return
	}
	if !s.addEcho(c) {
		d := protocol.DisconnectShutdown
		c.Close(d.Code, d.Reason)
		s.readLoop(c, first, release)
		return
	}
	e := s.watchEcho(c)
	c.handle = func(c *wsConn, op ws.OpCode, data []byte) {
		e.touch()
		echoMessage(c, op, data)
	}
	s.readLoop(c, first, func() {
		e.stop()
		s.removeEcho(c)
		release()
	})
}

// addEcho registers an echo connection, for Shutdown to close; it reports
// false once Shutdown has begun.
func (s *Server) addEcho(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	if s.echoes == nil {
		s.echoes = make(map[*wsConn]struct{})
	}
	s.echoes[c] = struct{}{}
	return true
}

func (s *Server) removeEcho(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.echoes, c)
}

// echoWatch closes an /echo connection that stays silent, as the hub
// closes a /ws client that never connects (4500) or stops answering pings
// (4002): the first message must come within EchoConnectTimeout, and each
// next one within EchoIdleTimeout of the one before. A message only
// records its time; the timer, when it fires, works out whether the
// connection has been silent long enough or sets itself for the rest.
type echoWatch struct {
	c             *wsConn
	connect, idle time.Duration
	start         time.Time
	last          atomic.Int64 // time since start of the latest message; -1 before the first

	mu      sync.Mutex
	timer   *time.Timer // under mu
	stopped bool        // under mu
}

// watchEcho starts watching c.
func (s *Server) watchEcho(c *wsConn) *echoWatch {
	e := &echoWatch{c: c, connect: s.cfg.EchoConnectTimeout, idle: s.cfg.EchoIdleTimeout, start: time.Now()}
	e.last.Store(-1)
	e.mu.Lock()
	e.timer = time.AfterFunc(e.connect, e.check)
	e.mu.Unlock()
	return e
}

// touch records a message.
func (e *echoWatch) touch() { e.last.Store(int64(time.Since(e.start))) }

// check runs when the timer fires.
func (e *echoWatch) check() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	last := e.last.Load()
	if last < 0 {
		d := protocol.DisconnectConnectTimeout
		e.c.Close(d.Code, d.Reason)
		return
	}
	silent := time.Since(e.start) - time.Duration(last)
	if silent >= e.idle {
		d := protocol.DisconnectHeartbeatTimeout
		e.c.Close(d.Code, d.Reason)
		return
	}
	e.timer.Reset(e.idle - silent)
}

// stop ends the watch: the connection has ended.
func (e *echoWatch) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	e.timer.Stop()
}
