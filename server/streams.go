package server

import (
	"net/http"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/server/stream"
)

// The HTTP fallback endpoints (package stream): what the server checks
// before it hands a request over.
//
// A stream (GET /sse, GET or POST /stream) is a client connection, as a
// WebSocket is: it passes the same checks before it starts (draining,
// the connect rate, the origin) and counts against MaxConnections and
// MaxConnectionsPerIP, not against the plain HTTP connections, for as long
// as it lasts; its connection is closed after it rather than kept alive.
// A POST to /sse/cmd is a plain request with a body, bounded as any other.
// Browsers reach all three across origins under the WebSocket origin
// policy (CORS).

// streamEndpoint wraps a stream endpoint in the checks every client
// connection passes before it starts.
func (s *Server) streamEndpoint(serve http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.cors(w, r) {
			return
		}
		switch {
		case s.draining.Load():
			w.Header().Set("Retry-After", "1")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		case !s.connectRate.allow(w, r):
			s.obs.RateLimited(hub.LimitConnectIP)
			return
		}
		serve(w, r)
	}
}

// serveStreamCommand serves POST /sse/cmd.
func (s *Server) serveStreamCommand(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		return
	}
	s.streams.ServeCommand(w, r)
}

// admitStream counts a stream as a client connection, and stops counting
// its connection as plain HTTP, which the stream holds to its end.
func (s *Server) admitStream(r *http.Request) (func(), bool) {
	release, admitted := s.AdmitClient(r.RemoteAddr)
	if !admitted {
		return release, false
	}
	if hc, _ := r.Context().Value(httpConnKey{}).(*httpConn); hc != nil && r.ProtoMajor == 1 {
		s.httpConns.release(hc.conn)
	}
	s.readers.Add(1)
	return func() {
		release()
		s.readers.Done()
	}, true
}

// cors applies the WebSocket origin policy to a cross-origin request
// (403 for an origin not allowed), adds the headers that let the browser
// hand the answer to the page, and answers a preflight. It reports whether
// the request is to be served.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if !originAllowed(r, s.cfg.AllowedOrigins) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	// Cookies go with a stream as with a WebSocket upgrade (a connect
	// proxy may read them); the origin is checked all the same.
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "Retry-After, "+stream.HeaderNotDelivered)
	if r.Method != http.MethodOptions {
		return true
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return false
}
