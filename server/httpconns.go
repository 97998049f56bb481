package server

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/heraldhq/herald/internal/netaddr"
	"github.com/heraldhq/herald/protocol"
)

// How plain HTTP is kept from taking the descriptors WebSocket clients and
// health checks need.
//
// Every accepted connection is an HTTP connection until it is hijacked for
// a WebSocket or closed: while it sends its request headers, while a
// request runs, while it idles between requests. Those are counted from
// accept (the http.Server's ConnContext hook, which runs before a byte is
// read) until they are hijacked or closed (its ConnState hook), in total
// and per client address (an IPv6 address as its /64, the key the connect
// rate uses). A hijacked connection counts against MaxConnections and
// MaxConnectionsPerIP instead, as a WebSocket.
//
//   - Past MaxHTTPConnectionsPerIP, a new connection from that address is
//     closed at once, before anything of it is read.
//   - Past MaxHTTPConnections, a new connection is admitted on probation,
//     into a reserve a quarter as large: it may ask for one thing only, a
//     WebSocket upgrade (/ws, /echo) or a health check (/healthz,
//     /readyz), and is closed after that one answer; any other request is
//     answered 503 and closed at once. So when plain HTTP is exhausted
//     (slow clients, a flood of API calls), WebSocket clients and load
//     balancers still get in.
//   - One address may hold a sixteenth of its MaxHTTPConnectionsPerIP, plus
//     one, in the reserve: filling it takes many addresses, not one busy
//     one.
//   - Past the reserve too, a new connection is closed at once.
//
// A connection cannot say what it wants before its request headers have
// arrived, which is why the reserve admits first and sorts later; those
// headers must arrive within ReadHeaderTimeout.

// httpConn is what the server knows of one counted connection.
type httpConn struct {
	conn net.Conn
	key  string
	// probation: admitted into the reserve, for one WebSocket upgrade or
	// health check. Set at admission, read-only after.
	probation bool
	// fresh: nothing read yet, under httpConns.mu.
	fresh bool
}

// httpConnKey is the request context key of a request's *httpConn.
type httpConnKey struct{}

// httpConns counts the connections that are not WebSocket connections.
type httpConns struct {
	limit, reserve, perIP, reservePerIP int

	mu             sync.Mutex
	draining       bool
	conns          map[net.Conn]*httpConn
	byKey          map[string]int
	probation      int            // how many of conns are on probation
	probationByKey map[string]int // and from each key
}

func newHTTPConns(limit, perIP int) *httpConns {
	return &httpConns{
		limit:          limit,
		reserve:        httpReserve(limit),
		perIP:          perIP,
		reservePerIP:   perIP/16 + 1,
		conns:          make(map[net.Conn]*httpConn),
		byKey:          make(map[string]int),
		probationByKey: make(map[string]int),
	}
}

// httpReserve is how many connections past limit are admitted on
// probation: a quarter as many, plus 16 so that a small limit still leaves
// room for health checks.
func httpReserve(limit int) int { return limit/4 + 16 }

// admit counts a new connection, or reports false when it is to be closed
// unread: over its address's cap, over the reserve, or while draining.
func (h *httpConns) admit(c net.Conn) (*httpConn, bool) {
	key := netaddr.ClientKey(c.RemoteAddr().String())
	h.mu.Lock()
	defer h.mu.Unlock()
	total := len(h.conns)
	probation := total >= h.limit
	if h.draining || h.byKey[key] >= h.perIP || total >= h.limit+h.reserve ||
		probation && h.probationByKey[key] >= h.reservePerIP {
		return nil, false
	}
	hc := &httpConn{conn: c, key: key, probation: probation, fresh: true}
	if probation {
		h.probation++
		h.probationByKey[key]++
	}
	h.conns[c] = hc
	h.byKey[key]++
	return hc, true
}

// decrement lowers m[key] by one, forgetting keys that reach zero.
func decrement(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
	} else {
		m[key]--
	}
}

// active records that c has begun a request.
func (h *httpConns) active(c net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hc := h.conns[c]; hc != nil {
		hc.fresh = false
	}
}

// release stops counting c: it was hijacked or closed. Idempotent.
func (h *httpConns) release(c net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hc := h.conns[c]
	if hc == nil {
		return
	}
	delete(h.conns, c)
	if hc.probation {
		h.probation--
		decrement(h.probationByKey, hc.key)
	}
	decrement(h.byKey, hc.key)
}

// drain refuses every connection from now on and returns those that have
// sent nothing yet, to be closed: http.Server.Shutdown waits 5 s before it
// counts those as idle; Herald closes them at once, as it would an idle
// keep-alive connection.
func (h *httpConns) drain() []net.Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.draining = true
	var fresh []net.Conn
	for c, hc := range h.conns {
		if hc.fresh {
			fresh = append(fresh, c)
		}
	}
	return fresh
}

// count returns the connections counted and how many of them are on
// probation.
func (h *httpConns) count() (total, probation int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns), h.probation
}

// connContext is the HTTP server's ConnContext hook: it admits a new
// connection or closes it unread, and hands the admitted one's record to
// its requests.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	hc, ok := s.httpConns.admit(c)
	if !ok {
		// The server's goroutine for c then fails its first read and ends.
		_ = c.Close()
		return ctx
	}
	return context.WithValue(ctx, httpConnKey{}, hc)
}

// connState is the HTTP server's ConnState hook.
func (s *Server) connState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateActive:
		s.httpConns.active(c)
	case http.StateHijacked, http.StateClosed:
		s.httpConns.release(c)
	}
}

// HTTPConnections returns how many of the server's connections are not
// WebSocket connections (reading a request, serving one, or idle between
// requests), and how many of those were admitted past MaxHTTPConnections,
// for a WebSocket upgrade or a health check only.
func (s *Server) HTTPConnections() (total, probation int) {
	return s.httpConns.count()
}

// onProbation reports whether r came on a connection admitted past
// MaxHTTPConnections.
func onProbation(r *http.Request) bool {
	hc, _ := r.Context().Value(httpConnKey{}).(*httpConn)
	return hc != nil && hc.probation
}

// refuseOnProbation answers a request that a connection admitted past
// MaxHTTPConnections may not make (503), and reports whether it did. A
// request it may make is answered with the connection closed after it. A
// server API call is refused in the API's error shape, as temporary (110).
func (s *Server) refuseOnProbation(w http.ResponseWriter, r *http.Request) bool {
	if !onProbation(r) {
		return false
	}
	w.Header().Set("Connection", "close")
	if s.reserved(r) {
		return false
	}
	w.Header().Set("Retry-After", "1")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeAPIError(w, http.StatusServiceUnavailable, protocol.CodeTooManyRequests, "server busy: try again")
		return true
	}
	http.Error(w, "server busy", http.StatusServiceUnavailable)
	return true
}

// reserved reports whether r may use a connection from the reserve: a
// WebSocket endpoint (which refuses anything but an upgrade itself), a
// stream endpoint (a client connection too) or a health check.
func (s *Server) reserved(r *http.Request) bool {
	switch r.URL.Path {
	case "/ws", "/sse", "/stream", "/healthz", "/readyz":
		return true
	case "/echo":
		return s.cfg.EchoEndpoint
	}
	return false
}
