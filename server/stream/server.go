// Package stream is Herald's HTTP fallback transports, for clients that
// cannot open a WebSocket (a proxy that refuses upgrades, a browser
// EventSource, curl): server-sent events on GET /sse and HTTP streaming on
// GET or POST /stream carry the same replies and pushes as /ws, one long
// response per connection; commands after connect arrive by POST
// /sse/cmd, naming the connection's session, on any node of the cluster
// (docs/PROTOCOL.md, "HTTP fallbacks").
//
// The package owns only what HTTP changes: reading the connect command
// from the request, framing the response, and taking POSTed commands.
// Admission (draining, the connect rate, the origin, the connection limits)
// is the server's, which hands each request over once it has passed;
// sessions, heartbeats, rate limits and write queues are the hub's, as for
// every transport, and so is routing a POST to the node that holds its
// session.
//
// A stream's handler goroutine is its connection's reader: it hands the
// hub the connect command, then the POSTed frames in the order they were
// accepted, and returns once the hub has closed the connection or the
// client has gone. The hub's writers write the response under the
// connection's write lock, which the handler takes before it returns, so
// nothing writes to a response whose handler has returned.
package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// Config holds the transport's options. The limits have no defaults of
// their own: server.New gives its own, the one source of every limit's
// default, and New refuses a limit that is not positive.
type Config struct {
	// Admit counts r's connection as a client connection, against the
	// limits every transport shares, and reports whether it is within
	// them; release uncounts it, admitted or not. Required.
	Admit func(r *http.Request) (release func(), admitted bool)
	// Peer returns what the hub may use of r before connect (address,
	// forwarded headers, certificate user). Default: the address only.
	Peer func(r *http.Request) hub.Peer
	// MaxMessageSize bounds the connect command and a POST's body (413
	// past it). Required.
	MaxMessageSize int
	// MaxFrameCommands bounds the commands of one POST (400 past it); it
	// must not exceed the hub's MaxFrameCommands. Required.
	MaxFrameCommands int
	// QueueLength bounds the POSTs accepted for one session that its
	// connection has not run yet (429 past it). Required.
	QueueLength int
	// WriteTimeout bounds one write; a client that stops reading for
	// longer is dropped as a slow consumer (4001). Required.
	WriteTimeout time.Duration
	// Logger receives the transport's logs. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Peer == nil {
		c.Peer = func(r *http.Request) hub.Peer { return hub.Peer{Remote: r.RemoteAddr} }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves the stream endpoints of one hub.
type Server struct {
	cfg Config
	hub *hub.Hub
	log *slog.Logger
}

// New returns the stream endpoints for h. It panics without Admit: a
// transport without the node's connection limits would be unbounded.
func New(cfg Config, h *hub.Hub) *Server {
	if cfg.Admit == nil {
		panic("stream: Config.Admit is required")
	}
	if cfg.MaxMessageSize <= 0 || cfg.MaxFrameCommands <= 0 || cfg.QueueLength <= 0 || cfg.WriteTimeout <= 0 {
		panic("stream: the limits in Config are required")
	}
	cfg.setDefaults()
	return &Server{cfg: cfg, hub: h, log: cfg.Logger}
}

// HeaderNotDelivered marks a 503 answer to a POST whose commands
// certainly did not reach the session.
const HeaderNotDelivered = "Herald-Not-Delivered"

// The response content types.
const (
	contentSSE      = "text/event-stream"
	contentNDJSON   = "application/x-ndjson"
	contentProtobuf = "application/x-protobuf"
)

// ServeSSE serves GET /sse: server-sent events, JSON only, the connect
// command in the connect query parameter.
func (s *Server) ServeSSE(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method not allowed")
		return
	}
	src, ok := s.connectParam(w, r)
	if !ok {
		return
	}
	// An id this server did not write (another version's) is ignored.
	cursor := parseCursor(r.Header.Get("Last-Event-ID"))
	s.serve(w, r, kindSSE, protocol.JSON, src, protocol.JSON, cursor)
}

// ServeStream serves GET and POST /stream: HTTP streaming, JSON lines or
// length-prefixed Protobuf, the connect command in the connect query
// parameter (JSON) or the body (JSON, or Protobuf with that content type).
func (s *Server) ServeStream(w http.ResponseWriter, r *http.Request) {
	enc := protocol.JSON
	if r.URL.Query().Get("encoding") == "proto" {
		enc = protocol.Protobuf
	}
	var src []byte
	srcEnc := protocol.JSON
	switch r.Method {
	case http.MethodGet:
		var ok bool
		if src, ok = s.connectParam(w, r); !ok {
			return
		}
	case http.MethodPost:
		if isProtobuf(r.Header.Get("Content-Type")) {
			srcEnc, enc = protocol.Protobuf, protocol.Protobuf
		}
		var ok bool
		if src, ok = s.readBody(w, r); !ok {
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method not allowed")
		return
	}
	kind := kindNDJSON
	if enc == protocol.Protobuf {
		kind = kindProtobuf
	}
	s.serve(w, r, kind, enc, src, srcEnc, nil)
}

// isProtobuf reports whether a Content-Type names Protobuf.
func isProtobuf(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(ct), contentProtobuf)
}

// connectParam returns the connect query parameter, answering the request
// when it is missing or too large.
func (s *Server) connectParam(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	src := r.URL.Query().Get("connect")
	switch {
	case src == "":
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "the connect parameter is required")
		return nil, false
	case len(src) > s.cfg.MaxMessageSize:
		writeError(w, http.StatusRequestEntityTooLarge, protocol.CodeLimitExceeded, "connect command too large")
		return nil, false
	}
	return []byte(src), true
}

// readBody reads a request body of at most MaxMessageSize bytes,
// answering the request when it is larger or does not arrive.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	limit := int64(s.cfg.MaxMessageSize)
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, protocol.CodeLimitExceeded, "body too large")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, protocol.CodeLimitExceeded, "body too large")
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "body not read")
		return nil, false
	}
	return body, true
}

// serve runs one stream connection: src is its connect command in srcEnc,
// to be handed to the hub in enc, the encoding of the response.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, kind streamKind, enc protocol.Encoding, src []byte, srcEnc protocol.Encoding, cursor *cursor) {
	connect, id, err := normalizeConnect(src, srcEnc, enc, cursor)
	if err != nil {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, err.Error())
		return
	}
	release, admitted := s.cfg.Admit(r)
	defer release()
	if !admitted {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, protocol.CodeTooManyRequests, "too many connections")
		return
	}
	c := newConn(w, kind, enc, id, s.cfg)
	h := w.Header()
	h.Set("Content-Type", kind.contentType())
	h.Set("Cache-Control", "no-store")
	// Reverse proxies that buffer responses (nginx) pass this one on as
	// it comes.
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		// The connection was counted as a client connection, not as plain
		// HTTP: it must not idle as a keep-alive one after the stream.
		h.Set("Connection", "close")
	}
	w.WriteHeader(http.StatusOK)
	if err := c.rc.Flush(); err != nil {
		return
	}
	c.session = s.hub.NewSession()
	c.client = s.hub.NewClient(c, enc, s.cfg.Peer(r))
	s.hub.AddSession(c.session, c)
	defer s.hub.RemoveSession(c.session)
	c.client.HandleFrame(connect)
	c.end(c.run(r.Context()))
}

// normalizeConnect checks that src holds one connect command and returns
// it in enc, with its id: 1 when it has none, so that its reply is the
// first message. A reconnecting EventSource's cursor gives the positions
// of its channels and inbox, and adds the channels the command lacks.
func normalizeConnect(src []byte, srcEnc, enc protocol.Encoding, cur *cursor) ([]byte, uint32, error) {
	var cmd protocol.Command
	err := srcEnc.DecodeFrameLimit(src, 1, func(c *protocol.Command) error {
		cmd = *c
		return nil
	})
	switch {
	case errors.Is(err, protocol.ErrTooManyCommands):
		return nil, 0, errors.New("one connect command expected")
	case err != nil:
		return nil, 0, err
	case cmd.Type != protocol.TypeConnect:
		return nil, 0, errNoConnect
	}
	if cmd.ID == 0 {
		cmd.ID = 1
	}
	if cur != nil {
		subs := make(map[string]protocol.SubscribeSince, len(cmd.Subs)+len(cur.Subs))
		maps.Copy(subs, cmd.Subs)
		for ch, pos := range cur.Subs {
			subs[ch] = protocol.SubscribeSince{Since: &pos}
		}
		cmd.Subs = subs
		if cur.Inbox != nil {
			cmd.InboxSince = cur.Inbox
		}
	}
	b, err := enc.AppendCommand(nil, &cmd)
	return b, cmd.ID, err
}

// ServeCommand serves POST /sse/cmd?session=...: one frame of commands for
// a stream connection, on this node or another, answered 204 once the
// node holding the session has queued them. Their replies arrive on the
// stream.
func (s *Server) ServeCommand(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method not allowed")
		return
	}
	session := r.URL.Query().Get("session")
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "no command")
		return
	}
	var cred hub.SessionCredentials
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			writeError(w, http.StatusForbidden, protocol.CodePermissionDenied, "permission denied")
			return
		}
		cred.Token = strings.TrimSpace(token)
	}
	res := s.hub.PostSession(r.Context(), session, cred, body)
	switch res.Status {
	case hub.SessionAccepted:
		w.WriteHeader(http.StatusNoContent)
	case hub.SessionMalformed:
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, res.Message)
	case hub.SessionNotFound:
		writeError(w, http.StatusNotFound, protocol.CodeBadRequest, "unknown session")
	case hub.SessionForbidden:
		writeError(w, http.StatusForbidden, protocol.CodePermissionDenied, "permission denied")
	case hub.SessionFull:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, protocol.CodeTooManyRequests, "too many commands waiting")
	default:
		w.Header().Set("Retry-After", "1")
		if res.NotSent {
			// The commands certainly did not run: the client may send
			// them again rather than treat the connection as lost.
			w.Header().Set(HeaderNotDelivered, "1")
		}
		writeError(w, http.StatusServiceUnavailable, protocol.CodeInternal, "session unreachable: try again")
	}
}

// writeError answers with the JSON error body of the server API.
func writeError(w http.ResponseWriter, status int, code protocol.ErrorCode, message string) {
	body, _ := json.Marshal(map[string]any{"error": protocol.NewError(code, message)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
