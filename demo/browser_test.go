package demo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/demo"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/browsertest"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// TestBrowserChat runs the page in headless Chromium against a real
// server: two users chat, watch presence, read an anonymous connection's
// message, exchange a direct message, then the server restarts while
// messages keep arriving through another node on the same broker, and both
// pages recover every message exactly once, with the server API's labelled
// as the server's. A last restart on an empty broker must make both pages
// say that messages may be missing.
func TestBrowserChat(t *testing.T) {
	browsertest.Require(t)
	mb := memory.New(memory.Options{})
	t.Cleanup(func() { mb.Close() })
	h, err := demo.New(demo.Options{TokenSecret: []byte(ht.Secret), Namespace: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	opts := ht.Options{
		Broker: mb,
		Hub:    hub.Config{Anonymous: true},
		Server: server.Config{Pages: map[string]http.Handler{demo.Path: h}},
	}
	ctl := &restarter{t: t, opts: opts, srv: ht.Start(t, opts)}
	control := httptest.NewServer(ctl)
	t.Cleanup(control.Close)
	browsertest.Run(t, "testdata/chat.cjs", 3*time.Minute,
		"URL="+ctl.srv.URL+demo.Path, "CONTROL="+control.URL)
}

// TestBrowserLayout opens the page at a phone's width and a laptop's: the
// chat fits the screen, the message box keeps a usable width, and the
// favicon is served.
func TestBrowserLayout(t *testing.T) {
	browsertest.Require(t)
	h, err := demo.New(demo.Options{TokenSecret: []byte(ht.Secret), Namespace: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	srv := ht.Start(t, ht.Options{Server: server.Config{Pages: map[string]http.Handler{demo.Path: h}}})
	browsertest.Run(t, "testdata/layout.cjs", time.Minute, "URL="+srv.URL+demo.Path)
}

// TestBrowserClientLogic feeds herald.js, in Chromium, the overlaps and
// failures a healthy server rarely produces: repeated and stale offsets,
// recovery overlapping live messages in one frame, an epoch change, ping,
// and close codes that do and do not reconnect.
func TestBrowserClientLogic(t *testing.T) {
	browsertest.Require(t)
	srv := newHandler(t, demo.Options{})
	browsertest.Run(t, "testdata/client.cjs", time.Minute, "URL="+srv.URL+demo.Path)
}

// restarter is the script's control endpoint: POST /control/restart stops
// the server (clients get 1001), publishes through the server API of a
// second node on the same broker while the first is down, starts the
// first again on the same address, and answers what it published.
// POST /control/reset restarts the server on a new, empty broker, as a
// process on the in-memory broker restarts: every stream starts over.
type restarter struct {
	t    *testing.T
	opts ht.Options
	mu   sync.Mutex
	srv  *ht.Server
}

// outage is what was published while the server was down.
type outage struct {
	Room   []string `json:"room"`
	Direct string   `json:"direct"`
}

func (r *restarter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch req.URL.Path {
	case "/control/restart":
		r.restart(w)
	case "/control/reset":
		r.srv.Stop()
		fresh := memory.New(memory.Options{})
		r.t.Cleanup(func() { fresh.Close() })
		r.srv.Broker = fresh // Restart starts the new server on it
		r.srv = r.srv.Restart(r.opts)
	default:
		http.NotFound(w, req)
	}
}

func (r *restarter) restart(w http.ResponseWriter) {
	r.srv.Stop()
	out, err := r.publishDuringOutage()
	r.srv = r.srv.Restart(r.opts)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (r *restarter) publishDuringOutage() (outage, error) {
	other := ht.Start(r.t, ht.Options{Broker: r.srv.Broker})
	defer other.Stop()
	var out outage
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("missed while down %d", i)
		if err := apiCall(other, "publish", map[string]any{"channel": "chat:lobby", "data": map[string]string{"text": text}}); err != nil {
			return out, err
		}
		out.Room = append(out.Room, text)
	}
	out.Direct = "direct while down"
	err := apiCall(other, "send", map[string]any{"user": "bob", "data": map[string]string{"text": out.Direct}})
	return out, err
}

// apiCall calls the server API and reports failure as an error: it runs
// on the control server's goroutine, where the test must not be stopped.
func apiCall(s *ht.Server, method string, body any) error {
	status, out := s.API(method, body)
	if status != http.StatusOK || out["error"] != nil {
		return fmt.Errorf("api %s: status %d, body %v", method, status, out)
	}
	return nil
}
