// Package tcp is Herald's raw TCP transport: a listener, plain or TLS, for
// clients that do not speak WebSocket (devices, native programs). It speaks
// the same protocol to the same hub as the WebSocket endpoint: a short
// preamble names the encoding, then JSON commands travel one per line and
// Protobuf commands with a varint length prefix each (docs/PROTOCOL.md,
// "Raw TCP").
//
// The package owns only what TCP changes: the preamble, the stream framing
// and closing without a close frame. Admission (the connect rate and the
// connection limits) is shared with the WebSocket endpoint through a Gate,
// which *server.Server implements, so the limits bound the node whichever
// transport its clients use; sessions, heartbeats, rate limits and write
// queues are the hub's, as for every transport.
package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/burst"
	"github.com/heraldhq/herald/internal/tally"
	"github.com/heraldhq/herald/protocol"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("tcp: server closed")

// Gate admits connections by the limits every transport of a node shares.
// *server.Server is one.
type Gate interface {
	// AllowConnect takes a token from the connect-rate bucket of remote's
	// address (ip:port) and reports whether there was one.
	AllowConnect(remote string) bool
	// AdmitClient counts a client connection from remote against the
	// connection limits and reports whether it is within them; release
	// uncounts it, admitted or not.
	AdmitClient(remote string) (release func(), admitted bool)
}

// Config holds the listener's options. Zero values take the defaults in
// each field's comment.
type Config struct {
	// Gate admits connections. Required.
	Gate Gate
	// TLS, when set, makes the listener speak TLS; its certificates and
	// client certificate policy are the caller's (package tlsconfig).
	TLS *tls.Config
	// ClientCertUser makes the subject common name of a verified TLS
	// client certificate the connection's user when connect has no token.
	ClientCertUser bool
	// MaxMessageSize is the largest client message: a JSON line without
	// its line end, a Protobuf message without its length prefix. Larger
	// closes with 1009. Default 65536.
	MaxMessageSize int
	// MaxFrameCommands caps how many commands the listener hands the hub
	// as one frame; it must not exceed the hub's MaxFrameCommands.
	// Default 100, the hub's default.
	MaxFrameCommands int
	// PreambleTimeout bounds the TLS handshake and the preamble, from
	// accept. Default 10s.
	PreambleTimeout time.Duration
	// WriteTimeout bounds one write; a client that stops reading for
	// longer is dropped as a slow consumer (4001). Default 10s.
	WriteTimeout time.Duration
	// Logger receives the listener's logs. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 65536
	}
	if c.MaxFrameCommands <= 0 {
		c.MaxFrameCommands = 100
	}
	if c.PreambleTimeout <= 0 {
		c.PreambleTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server accepts raw TCP client connections for one hub.
type Server struct {
	cfg Config
	hub *hub.Hub
	log *slog.Logger

	draining atomic.Bool
	mu       sync.Mutex
	// listeners are the listeners Serve runs on, and waiting the
	// connections still in their handshake or preamble: Shutdown closes
	// both (the hub knows nothing of them).
	listeners map[net.Listener]struct{}
	waiting   map[net.Conn]struct{}
	// conns counts the accepted connections until they end, for Shutdown.
	conns  tally.Tally
	bursts *burst.Pool
}

// New returns a listener for h. It panics without a Gate: a listener
// without the node's connection limits would be unbounded.
func New(cfg Config, h *hub.Hub) *Server {
	if cfg.Gate == nil {
		panic("tcp: Config.Gate is required")
	}
	cfg.setDefaults()
	return &Server{
		cfg:       cfg,
		hub:       h,
		log:       cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		waiting:   make(map[net.Conn]struct{}),
		bursts:    burst.NewPool(),
	}
}

// Serve accepts connections on l until Shutdown. It always returns a
// non-nil error; after Shutdown, ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		raw, err := l.Accept()
		if err != nil {
			if s.draining.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: wait, as
				// net/http does, rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("tcp accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.conns.Add(1)
		go s.serveConn(raw)
	}
}

// isTemporary reports an accept error worth retrying.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Shutdown stops accepting, closes the connections that have not finished
// their preamble and waits for the others to end, or for ctx (then it
// returns ctx's error). Those end as the hub's Shutdown disconnects their
// clients, so the caller runs both side by side, as for the WebSocket
// server.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	for l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.waiting {
		_ = c.Close()
	}
	s.mu.Unlock()
	defer s.bursts.Close()
	return s.conns.Wait(ctx)
}

// serveConn runs one connection from accept to its preamble, then hands
// it to its reader (reader.go), which ends it. It was counted in s.conns,
// which it, or the connection's end, uncounts. Admission comes before a
// byte is read: a connection past the connect rate or the limits is closed
// at once, so a flood holds nothing for longer than an accept.
func (s *Server) serveConn(raw net.Conn) {
	remote := raw.RemoteAddr().String()
	if s.draining.Load() || !s.cfg.Gate.AllowConnect(remote) {
		_ = raw.Close()
		s.conns.Done()
		return
	}
	release, admitted := s.cfg.Gate.AdmitClient(remote)
	ended := func() {
		release()
		s.conns.Done()
	}
	if !admitted || !s.track(raw) {
		_ = raw.Close()
		ended()
		return
	}
	netConn := raw
	if s.cfg.TLS != nil {
		netConn = tls.Server(raw, s.cfg.TLS)
	}
	// Both ways: a TLS handshake writes too, to a client that may not read.
	_ = raw.SetDeadline(time.Now().Add(s.cfg.PreambleTimeout))
	rb := getReader(netConn)
	enc, err := readPreamble(rb.br)
	if err != nil {
		s.untrack(raw)
		putReader(rb)
		s.log.Debug("tcp preamble failed", "remote", remote, "err", err)
		s.refuse(netConn, protocol.JSON, protocol.NewDisconnect(protocol.CloseBadRequest, err.Error()))
		ended()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	if !s.untrack(raw) {
		putReader(rb)
		s.refuse(netConn, enc, protocol.DisconnectShutdown)
		ended()
		return
	}
	c := newConn(netConn, enc, s.cfg)
	c.ended = ended
	if s.cfg.TLS == nil {
		c.enablePolling(raw)
		c.bursts = s.bursts
	}
	c.client = s.hub.NewClient(c, enc, s.peer(remote, netConn))
	r := &reader{c: c, rb: rb, br: rb.br, log: s.log}
	r.run()
}

// track records a connection in its preamble, for Shutdown; false when
// the server is draining already.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.waiting[c] = struct{}{}
	return true
}

// untrack ends tracking c; false when the server is draining (Shutdown
// has closed c, or would have missed it).
func (s *Server) untrack(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiting, c)
	return !s.draining.Load()
}

// peer is what the hub may use before connect: the address and the user a
// verified client certificate names.
func (s *Server) peer(remote string, c net.Conn) hub.Peer {
	p := hub.Peer{Remote: remote}
	if tc, ok := c.(*tls.Conn); ok && s.cfg.ClientCertUser {
		// Only a chain the TLS layer verified against the client CA counts.
		if st := tc.ConnectionState(); len(st.VerifiedChains) > 0 {
			p.CertUser = st.VerifiedChains[0][0].Subject.CommonName
		}
	}
	return p
}

// refuse tells a connection the hub never saw why it ends, with the
// protocol's disconnect push, and closes it.
func (s *Server) refuse(c net.Conn, enc protocol.Encoding, d protocol.Disconnect) {
	_ = c.SetWriteDeadline(time.Now().Add(min(s.cfg.WriteTimeout, closeTimeout)))
	_, _ = c.Write(appendTerminated(nil, enc, enc.AppendDisconnectPush(nil, d)))
	_ = c.Close()
}
