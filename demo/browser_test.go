package demo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/demo"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/browsertest"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/server"
)

// TestBrowserChat runs the page in headless Chromium against a real
// server on Redis: the page runs Herald's JavaScript client from
// /demo/herald.min.js; two users chat, watch presence, read an anonymous
// connection's message, exchange a direct message, then the server
// restarts while messages keep arriving through another node on the same
// Redis, and both pages recover every message exactly once, with the
// server API's labelled as the server's. A last restart on an empty Redis
// prefix (a broker that lost its data) must make both pages say that
// messages may be missing.
func TestBrowserChat(t *testing.T) {
	browsertest.Require(t)
	h, err := demo.New(demo.Options{TokenSecret: []byte(ht.Secret), Namespace: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	ctl := &restarter{
		t:     t,
		redis: services.Redis(t),
		opts:  ht.Options{Hub: hub.Config{Anonymous: true}, Server: server.Config{Pages: map[string]http.Handler{demo.Path: h}}},
	}
	ctl.prefix = ctl.newPrefix()
	opts, err := ctl.node()
	if err != nil {
		t.Fatal(err)
	}
	ctl.srv = ht.Start(t, opts)
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

// restarter is the script's control endpoint: POST /control/restart stops
// the server (clients get 1001), publishes through the server API of a
// second node on the same Redis while the first is down, starts the first
// again on the same address, and answers what it published. POST
// /control/reset restarts the server on a new, empty Redis prefix: every
// stream starts over, as when a broker loses its data.
//
// Each start is a new broker client, as a restarted process would make.
type restarter struct {
	t      *testing.T
	redis  string
	opts   ht.Options
	mu     sync.Mutex
	prefix string // the Redis key prefix of the current streams
	srv    *ht.Server
}

// newPrefix returns a Redis key prefix no other run uses, removed when the
// test ends.
func (r *restarter) newPrefix() string {
	prefix := "demo-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	services.CleanRedis(r.t, r.redis, prefix)
	return prefix
}

// node returns the options of a node on the current prefix, with a broker
// client of its own. It reports failure as an error: it runs on the
// control server's goroutine too, where the test must not be stopped.
func (r *restarter) node() (ht.Options, error) {
	b, err := redis.New(redis.Options{Addrs: []string{r.redis}, Prefix: r.prefix, Timeout: time.Second})
	if err != nil {
		return ht.Options{}, err
	}
	r.t.Cleanup(func() { b.Close() })
	opts := r.opts
	opts.Broker = b
	return opts, nil
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
	var out any = struct{}{}
	var err error
	switch req.URL.Path {
	case "/control/restart":
		r.srv.Stop()
		out, err = r.publishDuringOutage()
		if err2 := r.restartNode(); err == nil {
			err = err2
		}
	case "/control/reset":
		r.srv.Stop()
		r.prefix = r.newPrefix()
		err = r.restartNode()
	default:
		http.NotFound(w, req)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// restartNode starts the stopped server again on its address, with a new
// broker client on the current prefix.
func (r *restarter) restartNode() error {
	opts, err := r.node()
	if err != nil {
		return err
	}
	r.srv.Broker = opts.Broker // Restart starts the new server on it
	r.srv = r.srv.Restart(opts)
	return nil
}

func (r *restarter) publishDuringOutage() (outage, error) {
	var out outage
	opts, err := r.node()
	if err != nil {
		return out, err
	}
	other := ht.Start(r.t, opts)
	defer other.Stop()
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("missed while down %d", i)
		if err := apiCall(other, "publish", map[string]any{"channel": "chat:lobby", "data": map[string]string{"text": text}}); err != nil {
			return out, err
		}
		out.Room = append(out.Room, text)
	}
	out.Direct = "direct while down"
	err = apiCall(other, "send", map[string]any{"user": "bob", "data": map[string]string{"text": out.Direct}})
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
