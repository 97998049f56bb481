// Package heraldtest starts real Herald servers inside tests and talks to
// them over real sockets: an in-process server on a random loopback port
// and a small client that speaks the protocol in either encoding.
//
// The client shows every message as the JSON encoding spells it, whichever
// encoding is on the wire, so one test body checks both: run it under
// EachEncoding and connect with Server.Connect or Server.Dial.
package heraldtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

// Secret is the token secret of every test server.
const Secret = "heraldtest-secret-0123456789abcdef"

// APIKey is the server API key of every test server.
const APIKey = "heraldtest-api-key-0123456789"

// Options tunes a test server. Hub and Server are passed through after the
// fixture fills Namespaces (when empty), the token verifier and the API key.
type Options struct {
	Hub    hub.Config
	Server server.Config
	// Broker, when set, is used instead of a new memory broker; the test
	// owns it. Restarting a server on the same broker keeps history.
	Broker broker.Broker
	// Encoding is what Server.Connect and Server.Dial speak (JSON by
	// default). It configures the test's clients, not the server, which
	// speaks both.
	Encoding protocol.Encoding
}

// Encodings lists every wire encoding, for tests that run over each.
var Encodings = []protocol.Encoding{protocol.JSON, protocol.Protobuf}

// EachEncoding runs fn as a subtest per encoding, named after it. Pass enc
// to Options.Encoding and connect through the Server.
func EachEncoding(t *testing.T, fn func(t *testing.T, enc protocol.Encoding)) {
	for _, enc := range Encodings {
		t.Run(enc.String(), func(t *testing.T) { fn(t, enc) })
	}
}

// DefaultNamespaces are the namespaces of a test server unless Options
// names its own: "" (plain), "chat" (presence, join/leave, history,
// recovery, anyone may publish and read), "news" (history only, only the
// server publishes), "secret" (token required).
func DefaultNamespaces() map[string]hub.Namespace {
	return map[string]hub.Namespace{
		"": {},
		"chat": {
			Presence: true, JoinLeave: true, HistorySize: 100, HistoryTTL: time.Hour, Recover: true,
			AllowPublish: hub.AccessAny, AllowPresence: hub.AccessAny, AllowHistory: hub.AccessAny,
		},
		"news":   {HistorySize: 10, HistoryTTL: time.Hour, Recover: true, AllowPublish: hub.AccessNone},
		"secret": {AllowSubscribe: hub.SubscribeToken},
	}
}

// Server is a running test server.
type Server struct {
	t      testing.TB
	URL    string // http://127.0.0.1:port
	WSURL  string // ws://127.0.0.1:port/ws
	Hub    *hub.Hub
	Server *server.Server
	Broker broker.Broker
	// Encoding is what Connect and Dial speak.
	Encoding protocol.Encoding
	addr     string
	served   chan error
	stopped  bool
	// http calls this server only: its idle connections are closed with
	// the server, so a request after Restart never picks up a connection
	// the old server already closed (a POST is not retried: EOF).
	http *http.Client
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := start(t, opts, "127.0.0.1:0")
	t.Cleanup(func() { s.Stop() })
	return s
}

func start(t testing.TB, opts Options, addr string) *Server {
	t.Helper()
	b := opts.Broker
	if b == nil {
		mb := memory.New(memory.Options{})
		t.Cleanup(func() { mb.Close() })
		b = mb
	}
	if opts.Hub.Namespaces == nil {
		opts.Hub.Namespaces = DefaultNamespaces()
	}
	if opts.Hub.Inbox.Size == 0 {
		opts.Hub.Inbox = broker.StreamOptions{Size: 10, TTL: time.Hour}
	}
	if opts.Server.APIKeys == nil {
		opts.Server.APIKeys = []string{APIKey}
	}
	h := hub.New(opts.Hub, b, auth.NewHMACVerifier([]byte(Secret)))
	if err := h.Run(context.Background()); err != nil {
		t.Fatalf("hub run: %v", err)
	}
	srv := server.New(opts.Server, h)
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a restarted server may linger briefly
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &Server{
		t: t, Hub: h, Server: srv, Broker: b, Encoding: opts.Encoding, addr: l.Addr().String(),
		URL:    "http://" + l.Addr().String(),
		WSURL:  "ws://" + l.Addr().String() + "/ws",
		served: make(chan error, 1),
		http:   &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}
	go func() { s.served <- srv.Serve(l) }()
	return s
}

// Stop shuts the server and its hub down gracefully (at most 5 s), side
// by side as herald serve does. Idempotent.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Shutdown(ctx, s.Server, s.Hub); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	<-s.served
	s.http.CloseIdleConnections()
}

// Shutdown drains srv and h side by side, as herald serve does: the server
// stops taking connections and waits for their readers, which end as the
// hub closes its clients.
func Shutdown(ctx context.Context, srv *server.Server, h *hub.Hub) error {
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Shutdown(ctx) }()
	return errors.Join(h.Shutdown(ctx), <-srvErr)
}

// Restart stops the server and starts a new one on the same address and
// broker, as a process restart would with a durable broker.
func (s *Server) Restart(opts Options) *Server {
	s.t.Helper()
	s.Stop()
	opts.Broker = s.Broker
	opts.Encoding = s.Encoding
	n := start(s.t, opts, s.addr)
	s.t.Cleanup(func() { n.Stop() })
	return n
}

// Token mints a connection token for user with extra claims; exp defaults
// to an hour from now.
func Token(t testing.TB, user string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := auth.SignHMAC([]byte(Secret), c)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

// API calls a server API method and returns the HTTP status and the decoded
// body.
func (s *Server) API(method string, body any) (int, map[string]any) {
	s.t.Helper()
	status, raw := s.APIRaw(method, APIKey, body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return status, out
}

// APIRaw calls a server API method with a given key and returns the raw body.
func (s *Server) APIRaw(method, key string, body any) (int, []byte) {
	s.t.Helper()
	b := rawOrJSON(s.t, body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/"+method, bytesReader(b))
	if key != "" {
		req.Header.Set("Authorization", "apikey "+key)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("api %s: %v", method, err)
	}
	defer resp.Body.Close()
	raw := readAll(resp.Body)
	return resp.StatusCode, raw
}

// MustAPI calls a method and fails the test unless it succeeded; it returns
// the result object.
func (s *Server) MustAPI(method string, body any) map[string]any {
	s.t.Helper()
	status, out := s.API(method, body)
	if status != http.StatusOK || out["error"] != nil {
		s.t.Fatalf("api %s: status %d, body %v", method, status, out)
	}
	res, _ := out["result"].(map[string]any)
	return res
}

// rawOrJSON returns v as is when it is raw bytes or a string, nothing for
// nil, and v marshalled to JSON otherwise.
func rawOrJSON(t testing.TB, v any) []byte {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// Eventually polls cond until it is true or d passes, then fails naming
// what it waited for. A condition with a state worth reporting uses
// wait.For, whose timeout says what it last saw.
func Eventually(t testing.TB, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	wait.For(t, d, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf(format, args...)
	})
}
