// Package server is Herald's HTTP face: one http.Handler that serves the
// WebSocket client endpoint, the HTTP fallback endpoints (/sse, /stream,
// /sse/cmd, package stream), the server API, the health endpoints and the
// echo endpoint, plus Serve and Shutdown in the manner of net/http.
//
// The server owns transport concerns (handshakes, origins, connection
// limits, WebSocket framing via github.com/gobwas/ws); everything a
// connection does once open is the hub's business.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/netaddr"
	"github.com/heraldhq/herald/internal/tally"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server/stream"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

// Config holds the server's options. Zero values take the defaults in each
// field's comment.
type Config struct {
	// AllowedOrigins is the origin policy for WebSocket endpoints: "*" for
	// any, exact origins, or "https://*.example.com". Empty: same origin only.
	AllowedOrigins []string
	// EchoEndpoint serves /echo.
	EchoEndpoint bool
	// MaxMessageSize is the largest client message; larger closes with 1009.
	// Default 65536.
	MaxMessageSize int
	// MaxConnections caps concurrent WebSocket connections, /ws and /echo
	// together, and those of other transports counted by AdmitClient.
	// Default 100000.
	MaxConnections int
	// MaxConnectionsPerIP caps concurrent WebSocket connections per remote
	// address (an IPv6 address counts as its /64). Default 1000.
	MaxConnectionsPerIP int
	// ConnectRatePerIP and ConnectBurstPerIP shape how fast one remote
	// address (an IPv6 address counts as its /64) may open WebSocket
	// connections: past the bucket the upgrade is answered 429 with
	// Retry-After, before any handshake. Defaults 20/s and 50; a negative
	// rate turns the limit off.
	ConnectRatePerIP  float64
	ConnectBurstPerIP int
	// MaxHTTPConnections caps the connections that are not WebSocket
	// connections: from accept until a WebSocket upgrade, or for good
	// (API calls, pages, keep-alive). Past it, a reserve of a quarter as
	// many more (plus 16) admits WebSocket upgrades and health checks only,
	// one per connection; other requests are answered 503. Past the
	// reserve, new connections are closed unread. Default 2048.
	MaxHTTPConnections int
	// MaxHTTPConnectionsPerIP caps those connections per remote address
	// (an IPv6 address counts as its /64); past it, a new connection from
	// the address is closed unread. Of the reserve, one address may hold a
	// sixteenth of this, plus one. Default 128.
	MaxHTTPConnectionsPerIP int
	// ConnectHeaders names the upgrade request's headers handed to the hub
	// for its connect proxy (Cookie, Authorization, ...). Empty: none.
	ConnectHeaders []string
	// ClientCertUser makes the subject common name of a verified TLS
	// client certificate the connection's user when connect has no token.
	ClientCertUser bool
	// APIKeys authorize the server API; with none, every API call is 401.
	APIKeys []string
	// APIAllowedNets, when not empty, restricts the server API to peers in
	// these networks (403 for others, before the key is looked at). The
	// TCP peer's address counts, not X-Forwarded-For: behind a proxy, list
	// the proxy's address.
	APIAllowedNets []netip.Prefix
	// APIBodySize is the largest API request body (413). Default 1 MiB.
	APIBodySize int64
	// ReadHeaderTimeout bounds reading request headers. Default 5s.
	ReadHeaderTimeout time.Duration
	// RequestBodyTimeout bounds reading a request body, from the end of
	// its headers; a request answered before its body has arrived closes
	// its connection instead of reading the rest. Default 10s.
	RequestBodyTimeout time.Duration
	// HandshakeTimeout bounds writing the upgrade response. Default 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one frame write; a client that stops reading for
	// longer is dropped. Default 10s.
	WriteTimeout time.Duration
	// EchoConnectTimeout is how long an /echo connection has to send its
	// first message, and EchoIdleTimeout how long it may go without one
	// after that: past them it is closed with 4500 and 4002, as /ws closes
	// a client that never connects or stops answering pings. Defaults 10s
	// and 35s (the hub's connect timeout, and its ping interval plus pong
	// timeout).
	EchoConnectTimeout time.Duration
	EchoIdleTimeout    time.Duration
	// MaxFrameCommands bounds the commands of one POST to /sse/cmd (400
	// past it); it must not exceed the hub's. Default 100.
	MaxFrameCommands int
	// StreamQueueLength bounds the POSTs accepted for one stream session
	// that its connection has not run yet (429 past it). Default 16.
	StreamQueueLength int
	// Pages are further handlers by mux pattern ("/metrics", "/admin/",
	// "/demo/"): the server routes to them and knows nothing else of them.
	Pages map[string]http.Handler
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// Observer receives the server's measurements (package metrics
	// implements it). Default: none.
	Observer Observer
}

// Server serves one hub over HTTP. It is an http.Handler; Serve runs it on
// a listener with safe timeouts.
type Server struct {
	cfg  Config
	hub  *hub.Hub
	log  *slog.Logger
	obs  Observer
	mux  *http.ServeMux
	api  *apiHandler
	keys *keyring
	// streams serves the HTTP fallbacks.
	streams *stream.Server

	// upgraders by negotiated subprotocol ("" for none).
	upgraders map[string]ws.HTTPUpgrader

	conns       atomic.Int64 // WebSocket connections, /ws and /echo
	perIP       ipCounter    // WebSocket connections by netaddr.ClientKey
	connectRate *connectRate
	httpConns   *httpConns  // connections that are not WebSocket connections
	readers     tally.Tally // one per open WebSocket connection
	bursts      *burstPool
	loops       *eventLoops

	draining atomic.Bool
	mu       sync.Mutex
	httpSrv  *http.Server
	// echoes are the open /echo connections, which Shutdown closes (the
	// hub knows nothing of them).
	echoes map[*wsConn]struct{}
}

// New returns a server for h.
func New(cfg Config, h *hub.Hub) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, hub: h, log: cfg.Logger, obs: cfg.Observer, keys: newKeyring(cfg.APIKeys)}
	s.perIP.m = make(map[string]int)
	s.connectRate = newConnectRate(cfg.ConnectRatePerIP, cfg.ConnectBurstPerIP)
	s.httpConns = newHTTPConns(cfg.MaxHTTPConnections, cfg.MaxHTTPConnectionsPerIP)
	s.bursts = newBurstPool()
	s.loops = newEventLoops()
	s.upgraders = make(map[string]ws.HTTPUpgrader)
	for _, sub := range []string{"", protocol.SubprotocolJSON, protocol.SubprotocolProtobuf} {
		up := ws.HTTPUpgrader{Timeout: cfg.HandshakeTimeout}
		if sub != "" {
			up.Protocol = func(p string) bool { return p == sub }
		}
		s.upgraders[sub] = up
	}
	s.api = &apiHandler{hub: h, keys: s.keys, bodyLimit: cfg.APIBodySize, allowedNets: cfg.APIAllowedNets, log: cfg.Logger}

	s.streams = stream.New(stream.Config{
		Admit:            s.admitStream,
		Peer:             s.peer,
		MaxMessageSize:   cfg.MaxMessageSize,
		MaxFrameCommands: cfg.MaxFrameCommands,
		QueueLength:      cfg.StreamQueueLength,
		WriteTimeout:     cfg.WriteTimeout,
		Logger:           cfg.Logger,
	}, h)

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/ws", s.serveWS)
	s.mux.HandleFunc("/sse", s.streamEndpoint(s.streams.ServeSSE))
	s.mux.HandleFunc("/stream", s.streamEndpoint(s.streams.ServeStream))
	s.mux.HandleFunc("/sse/cmd", s.serveStreamCommand)
	if cfg.EchoEndpoint {
		s.mux.HandleFunc("/echo", s.serveEcho)
	}
	s.mux.Handle("/api/{method}", s.instrumentAPI(s.api))
	// Every other path under /api/ is an unknown method, answered in the
	// API's error shape after the same checks.
	s.mux.Handle("/api/", s.instrumentAPI(s.api))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	for prefix, h := range cfg.Pages {
		s.mux.Handle(prefix, h)
	}
	return s
}

// ServeHTTP routes a request to the endpoint it names. A request with a
// body gets RequestBodyTimeout to send it (body.go); a connection admitted
// past MaxHTTPConnections may only upgrade or ask for its health
// (httpconns.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w, r, done := s.guardBody(w, r)
	if done != nil {
		defer done()
	}
	if s.refuseOnProbation(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve accepts connections on l until Shutdown. It always returns a non-nil
// error; after Shutdown, ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.httpSrv = &http.Server{
		Handler:           s,
		ConnContext:       s.connContext,
		ConnState:         s.connState,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	srv := s.httpSrv
	s.mu.Unlock()
	return srv.Serve(l)
}

// Shutdown drains what the server started: /readyz turns 503 and new
// upgrades get 503, the listener closes, in-flight API calls finish, idle
// HTTP connections and /echo connections close, and Shutdown waits for the
// readers of the WebSocket connections to end, or for ctx (then it returns
// ctx's error). It does not stop the hub, which the caller owns, as
// http.Server never closes its Handler: the connections' readers end once
// the hub's Shutdown has closed their clients, so the caller runs both side
// by side (cmd/herald does).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	srv, echoes := s.httpSrv, s.echoes
	s.echoes = nil
	s.mu.Unlock()
	for _, c := range s.httpConns.drain() {
		c.Close()
	}
	for c := range echoes {
		d := protocol.DisconnectShutdown
		c.Close(d.Code, d.Reason)
	}
	// The HTTP side (listener, in-flight API requests) and the WebSocket
	// side drain side by side: clients hear of the shutdown at once, not
	// after the last API request.
	httpErr := make(chan error, 1)
	if srv != nil {
		// It does not track hijacked WebSocket connections; s.readers does.
		go func() { httpErr <- srv.Shutdown(ctx) }()
	} else {
		httpErr <- nil
	}
	defer s.bursts.Close()
	defer s.loops.close()
	err := s.readers.Wait(ctx)
	if herr := <-httpErr; herr != nil && err == nil {
		err = herr
	}
	return err
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	// The answer is public: it names no address or engine error.
	switch err := s.hub.Ready(ctx); {
	case errors.Is(err, hub.ErrStopped):
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	case err != nil:
		http.Error(w, "broker unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// admit applies what every WebSocket endpoint checks before its handshake,
// cheapest first, answering the request when it refuses it: draining, the
// connect rate of the peer's address, the handshake's headers, the origin.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case s.draining.Load():
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return false
	case !s.connectRate.allow(w, r):
		s.obs.RateLimited(hub.LimitConnectIP)
		return false
	case !checkHandshake(w, r):
		return false
	case !originAllowed(r, s.cfg.AllowedOrigins):
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return false
	}
	return true
}

// serveWS upgrades a client connection and hands it to the hub.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	sub, enc := negotiateEncoding(r)
	c, first, ok := s.upgrade(w, r, sub, enc)
	if !ok {
		return
	}
	release, admitted := s.countClient(r)
	if !admitted {
		s.refuse(c, protocol.DisconnectConnectionLimit)
		s.readLoop(c, first, release)
		return
	}
	c.client = s.hub.NewClient(c, enc, s.peer(r))
	c.handle = clientMessage
	s.readLoop(c, first, release)
}

// AllowConnect takes a token from the connect-rate bucket of remote's
// address (ip:port) for a connection of another transport, the bucket
// WebSocket upgrades take from too, and reports whether there was one.
func (s *Server) AllowConnect(remote string) bool {
	if s.connectRate.allowKey(netaddr.ClientKey(remote)) {
		return true
	}
	s.obs.RateLimited(hub.LimitConnectIP)
	return false
}

// peer collects what the hub may use before connect: the address, the
// headers a connect proxy forwards, the user a client certificate names.
func (s *Server) peer(r *http.Request) hub.Peer {
	p := hub.Peer{Remote: r.RemoteAddr}
	if len(s.cfg.ConnectHeaders) > 0 {
		p.Header = make(http.Header, len(s.cfg.ConnectHeaders))
		for _, name := range s.cfg.ConnectHeaders {
			if v := r.Header.Values(name); len(v) > 0 {
				p.Header[http.CanonicalHeaderKey(name)] = v
			}
		}
	}
	if s.cfg.ClientCertUser && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		// Only a chain the TLS layer verified against the client CA counts.
		p.CertUser = r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	return p
}

// upgrade completes the WebSocket handshake on the hijacked connection. It
// also returns the HTTP server's reader when that already holds bytes the
// client sent right behind its request; otherwise that reader (4 KiB, which
// keeps the server's per-request state reachable) is let go.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, sub string, enc protocol.Encoding) (*wsConn, *bufio.Reader, bool) {
	netConn, brw, _, err := s.upgraders[sub].Upgrade(r, w)
	if err != nil {
		if netConn != nil {
			_ = netConn.Close()
		}
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return nil, nil, false
	}
	c := &wsConn{
		raw:        &halfCloseConn{Conn: netConn},
		enc:        enc,
		maxMessage: int64(s.cfg.MaxMessageSize),
		panicked:   s.readPanicked,
		bursts:     s.bursts,
	}
	c.w.Timeout = s.cfg.WriteTimeout
	c.onControl = c.control
	_, isTLS := netConn.(*tls.Conn)
	c.w.Resumable = !isTLS
	c.enablePolling(netConn)
	if c.poll != nil {
		c.loops = s.loops
	}
	var first *bufio.Reader
	if brw.Reader.Buffered() > 0 {
		first = brw.Reader
	}
	return c, first, true
}

// refuse closes a connection the server will not serve, with the protocol's
// disconnect push before the close frame.
func (s *Server) refuse(c *wsConn, d protocol.Disconnect) {
	_ = c.WriteFrame([][]byte{c.enc.AppendDisconnectPush(nil, d)})
	c.Close(d.Code, d.Reason)
}

// readLoop reads the connection until it ends (reader.go), counted in
// s.readers for Shutdown.
func (s *Server) readLoop(c *wsConn, first *bufio.Reader, release func()) {
	s.readers.Add(1)
	c.start(first, func() {
		release()
		s.readers.Done()
	})
}

// readPanicked logs a connection closed by a recovered panic in frame
// parsing.
func (s *Server) readPanicked(v any) {
	s.log.Warn("websocket read panic; closing connection", "panic", v)
}

// countClient counts a new client connection (/ws or /echo) against
// MaxConnections and MaxConnectionsPerIP, and reports whether it is within
// them; release uncounts it, admitted or not.
func (s *Server) countClient(r *http.Request) (release func(), admitted bool) {
	return s.AdmitClient(r.RemoteAddr)
}

// AdmitClient counts a client connection from remote (ip:port) of another
// transport (the raw TCP listener) against the same MaxConnections and
// MaxConnectionsPerIP as the WebSocket connections, and reports whether it
// is within them; release uncounts it, admitted or not. One count for
// every transport: the limits bound what the node holds, whichever way its
// clients came.
func (s *Server) AdmitClient(remote string) (release func(), admitted bool) {
	key := netaddr.ClientKey(remote)
	total := s.conns.Add(1)
	perIP := s.perIP.add(key)
	release = func() {
		s.conns.Add(-1)
		s.perIP.done(key)
	}
	return release, total <= int64(s.cfg.MaxConnections) && perIP <= s.cfg.MaxConnectionsPerIP
}

// remoteIP returns the request's peer IP without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipCounter counts open connections per key.
type ipCounter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *ipCounter) add(ip string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[ip]++
	return c.m[ip]
}

func (c *ipCounter) done(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[ip] <= 1 {
		delete(c.m, ip)
		return
	}
	c.m[ip]--
}
