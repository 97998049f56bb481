package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/proxy"
	"github.com/heraldhq/herald/server"
)

// backend is an application backend behind the connect and subscribe
// proxies: a real HTTP server whose answers each test chooses.
type backend struct {
	srv       *httptest.Server
	connect   http.HandlerFunc
	subscribe http.HandlerFunc
	connects  atomic.Int64
	mu        sync.Mutex
	cookies   []string // Cookie headers of connect calls, as received
	bodies    []map[string]any
}

func newBackend(t *testing.T, connect, subscribe http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{connect: connect, subscribe: subscribe}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect", func(w http.ResponseWriter, r *http.Request) {
		b.connects.Add(1)
		b.record(r)
		b.connect(w, r)
	})
	mux.HandleFunc("POST /subscribe", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		b.subscribe(w, r)
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

// record keeps the call's Cookie header and decoded body, and leaves the
// body for the handler to read again.
func (b *backend) record(r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	b.mu.Lock()
	b.cookies = append(b.cookies, r.Header.Get("Cookie"))
	b.bodies = append(b.bodies, body)
	b.mu.Unlock()
}

// calls counts the backend's calls so far.
func (b *backend) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.bodies)
}

func (b *backend) firstCookie() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cookies[0]
}

func (b *backend) lastBody() map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bodies[len(b.bodies)-1]
}

// answer returns a handler that writes body as JSON.
func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// startProxied starts a Herald server whose connect and subscribe proxies
// call b, forwarding the Cookie header.
func startProxied(t *testing.T, b *backend, timeout time.Duration, cfg hub.Config) *ht.Server {
	t.Helper()
	p, err := proxy.New(proxy.Options{
		ConnectURL:   b.srv.URL + "/connect",
		SubscribeURL: b.srv.URL + "/subscribe",
		Timeout:      timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.CloseIdleConnections)
	cfg.ConnectProxy = p.ConnectProxy()
	cfg.SubscribeProxy = p.SubscribeProxy()
	if cfg.Namespaces == nil {
		cfg.Namespaces = ht.DefaultNamespaces()
		cfg.Namespaces["proxied"] = hub.Namespace{SubscribeProxy: true}
	}
	return ht.Start(t, ht.Options{Hub: cfg, Server: server.Config{ConnectHeaders: []string{"Cookie"}}})
}

// dialCookie opens a WebSocket that sends a session cookie.
func dialCookie(t *testing.T, s *ht.Server, cookie string) *ht.Client {
	t.Helper()
	return ht.Dial(t, s.WSURL, &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie}}})
}

func TestConnectProxyGrants(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	b := newBackend(t, answer(fmt.Sprintf(`{"result": {"user": "alice", "info": {"name": "Alice"},
		"channels": ["secret:*"], "subs": ["news:feed"], "expire_at": %d}}`, exp)), nil)
	s := startProxied(t, b, 0, hub.Config{})

	c := dialCookie(t, s, "session=s3cr3t")
	r := c.Call(map[string]any{"type": "connect", "name": "web", "version": "2.1"})
	res := r.Result()
	if res["user"] != "alice" || int64(res["expires"].(float64)) != exp {
		t.Fatalf("connect result %v", r)
	}
	if _, ok := res["subs"].(map[string]any)["news:feed"]; !ok {
		t.Fatalf("subs claim not subscribed: %v", res)
	}
	if res["inbox"] == nil {
		t.Fatalf("a proxied user has no inbox: %v", res)
	}

	if got := b.firstCookie(); got != "session=s3cr3t" {
		t.Fatalf("backend got Cookie %q", got)
	}
	body := b.lastBody()
	if body["client"] != res["client"] || body["name"] != "web" || body["version"] != "2.1" ||
		!strings.HasPrefix(body["remote"].(string), "127.0.0.1:") {
		t.Fatalf("connect request %v", body)
	}
	if h := ht.JSON(body["headers"]); h != `{"Cookie":["session=s3cr3t"]}` {
		t.Fatalf("forwarded headers %s", h)
	}

	// The channels claim opens a token-only namespace, as a token's would.
	if r := c.Call(map[string]any{"type": "subscribe", "channel": "secret:room"}); r.ErrorCode() != 0 {
		t.Fatalf("channels claim ignored: %v", r)
	}
	// The info reaches presence.
	c.Call(map[string]any{"type": "subscribe", "channel": "chat:p"})
	p := c.Call(map[string]any{"type": "presence", "channel": "chat:p"}).Result()["clients"].(map[string]any)
	if me := p[res["client"].(string)].(map[string]any); ht.JSON(me["info"]) != `{"name":"Alice"}` {
		t.Fatalf("presence %v", p)
	}
	// The subs claim delivers.
	s.MustAPI("publish", map[string]any{"channel": "news:feed", "data": map[string]any{"n": 1}})
	c.Messages("news:feed", 1)

	// Nothing to renew: refresh says how to, rather than a bare 101.
	rr := c.Call(map[string]any{"type": "refresh"})
	if rr.ErrorCode() != 107 || !strings.Contains(ht.JSON(rr["error"]), "reconnect") {
		t.Fatalf("refresh %v", rr)
	}
}

func TestConnectProxyAnonymousGrant(t *testing.T) {
	b := newBackend(t, answer(`{"result": {}}`), nil)
	s := startProxied(t, b, 0, hub.Config{})
	c := dialCookie(t, s, "guest=1")
	r := c.Call(map[string]any{"type": "connect"})
	if r.ErrorCode() != 0 || r.Result()["user"] != "" || r.Result()["inbox"] != nil {
		t.Fatalf("connect %v", r)
	}
}

func TestConnectProxyRefusals(t *testing.T) {
	past := time.Now().Add(-time.Minute).Unix()
	cases := []struct {
		name      string
		body      string
		code      int
		closeCode int
	}{
		{"unauthorized", `{"error": {"code": 101, "message": "no session"}}`, 101, 4501},
		{"expired", `{"error": {"code": 109, "message": "session expired"}}`, 109, 4003},
		{"permission denied", `{"error": {"code": 103}}`, 103, 4501},
		{"limit", `{"error": {"code": 106}}`, 106, 4005},
		{"temporary", `{"error": {"code": 100, "message": "try later"}}`, 100, 4006},
		{"disconnect", `{"disconnect": {"code": 4100, "reason": "banned"}}`, 101, 4100},
		{"disconnect expired", `{"disconnect": {"code": 4003, "reason": "log in again"}}`, 109, 4003},
		{"expire_at passed", fmt.Sprintf(`{"result": {"user": "u", "expire_at": %d}}`, past), 109, 4003},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, answer(tc.body), nil)
			s := startProxied(t, b, 0, hub.Config{})
			c := dialCookie(t, s, "session=x")
			if r := c.Call(map[string]any{"type": "connect"}); r.ErrorCode() != tc.code {
				t.Fatalf("reply %v, want error %d", r, tc.code)
			}
			c.ExpectClose(tc.closeCode)
			s.StillServes(t)
		})
	}
	t.Run("reason reaches the client", func(t *testing.T) {
		b := newBackend(t, answer(`{"disconnect": {"code": 4100, "reason": "banned"}}`), nil)
		s := startProxied(t, b, 0, hub.Config{})
		c := dialCookie(t, s, "session=x")
		c.Call(map[string]any{"type": "connect"})
		if d := c.Push("disconnect"); d["reason"] != "banned" {
			t.Fatalf("disconnect %v", d)
		}
	})
}

// TestConnectProxyFailures: whatever goes wrong at the backend, the client
// gets the temporary error 100 and close 4006, and the server goes on.
func TestConnectProxyFailures(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"status 500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }},
		{"status 404", http.NotFound},
		{"malformed JSON", answer(`{"result": {"user": "u"`)},
		{"not JSON", answer(`<html>login</html>`)},
		{"user not a string", answer(`{"result": {"user": 42}}`)},
		{"channels not strings", answer(`{"result": {"user": "u", "channels": [1]}}`)},
		{"subs not a list", answer(`{"result": {"user": "u", "subs": "news:feed"}}`)},
		{"expire_at a string", answer(`{"result": {"user": "u", "expire_at": "soon"}}`)},
		{"expire_at negative", answer(`{"result": {"user": "u", "expire_at": -5}}`)},
		{"empty answer", answer(`{}`)},
		{"result null", answer(`{"result": null}`)},
		{"result and error", answer(`{"result": {"user": "u"}, "error": {"code": 101}}`)},
		{"unknown error code", answer(`{"error": {"code": 999}}`)},
		{"error code a string", answer(`{"error": {"code": "101"}}`)},
		{"disconnect code out of range", answer(`{"disconnect": {"code": 1000}}`)},
		{"oversized", func(w http.ResponseWriter, r *http.Request) {
			pad := strings.Repeat("x", proxy.MaxResponseBytes)
			_, _ = fmt.Fprintf(w, `{"result": {"user": "u", "info": {"pad": %q}}}`, pad)
		}},
		{"redirect elsewhere", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, downURL+"/connect", http.StatusTemporaryRedirect)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, tc.handler, nil)
			s := startProxied(t, b, 0, hub.Config{})
			c := dialCookie(t, s, "session=x")
			r := c.Call(map[string]any{"type": "connect"})
			if r.ErrorCode() != 100 || r["error"].(map[string]any)["temporary"] != true {
				t.Fatalf("reply %v, want temporary error 100", r)
			}
			c.ExpectClose(4006)
			s.StillServes(t)
		})
	}
	t.Run("backend down", func(t *testing.T) {
		p, err := proxy.New(proxy.Options{ConnectURL: downURL + "/connect"})
		if err != nil {
			t.Fatal(err)
		}
		s := ht.Start(t, ht.Options{Hub: hub.Config{ConnectProxy: p.ConnectProxy()}})
		c := ht.Dial(t, s.WSURL, nil)
		if r := c.Call(map[string]any{"type": "connect"}); r.ErrorCode() != 100 {
			t.Fatalf("reply %v, want 100", r)
		}
		c.ExpectClose(4006)
		s.StillServes(t)
	})
}

// TestConnectProxyTimeout: a backend that never answers costs the client
// the proxy's timeout, not a hang, and other clients are served meanwhile.
func TestConnectProxyTimeout(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, nil)
	t.Cleanup(func() { close(release) }) // before the backend closes
	// The hub's own bound (the connect timeout, 10 s by default) is past
	// the 5 s the client waits: only the proxy's timeout can answer in time.
	s := startProxied(t, b, 300*time.Millisecond, hub.Config{})

	slow := dialCookie(t, s, "session=x")
	slow.Send(map[string]any{"id": 1, "type": "connect"})
	s.StillServes(t) // token connects skip the backend

	r := slow.Wait(func(m ht.Msg) bool { return m.ID() == 1 }, "connect reply")
	if r.ErrorCode() != 100 {
		t.Fatalf("reply %v, want 100", r)
	}
	slow.ExpectClose(4006)
}

func TestConnectProxyTokenFirst(t *testing.T) {
	b := newBackend(t, answer(`{"result": {"user": "from-proxy"}}`), nil)
	s := startProxied(t, b, 0, hub.Config{})
	c := dialCookie(t, s, "session=x")
	r := c.Call(map[string]any{"type": "connect", "token": ht.Token(t, "from-token", nil)})
	if r.Result()["user"] != "from-token" {
		t.Fatalf("connect %v", r)
	}
	if n := b.connects.Load(); n != 0 {
		t.Fatalf("backend asked %d times despite a token", n)
	}
	// A bad token is refused as ever, not handed to the proxy.
	c2 := dialCookie(t, s, "session=x")
	if r := c2.Call(map[string]any{"type": "connect", "token": "not.a.jwt"}); r.ErrorCode() != 101 {
		t.Fatalf("bad token %v", r)
	}
	c2.ExpectClose(4501)
	if n := b.connects.Load(); n != 0 {
		t.Fatalf("backend asked %d times despite a token", n)
	}
}

func TestSubscribeProxy(t *testing.T) {
	b := newBackend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		var req proxy.SubscribeRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		switch req.Channel {
		case "proxied:ok":
			answer(`{"result": {}}`)(w, r)
		case "proxied:no":
			answer(`{"error": {"code": 103, "message": "not your room"}}`)(w, r)
		case "proxied:bad":
			answer(`{"result": "yes"}`)(w, r)
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	})
	s := startProxied(t, b, 0, hub.Config{})
	c, res := s.Connect(t, ht.Token(t, "bob", map[string]any{"info": map[string]any{"n": 1}}))

	if r := c.Call(map[string]any{"type": "subscribe", "channel": "proxied:ok"}); r.ErrorCode() != 0 {
		t.Fatalf("allowed subscribe %v", r)
	}
	body := b.lastBody()
	if body["client"] != res["client"] || body["user"] != "bob" || body["channel"] != "proxied:ok" || ht.JSON(body["info"]) != `{"n":1}` {
		t.Fatalf("subscribe request %v", body)
	}
	calls := b.calls()
	if r := c.Call(map[string]any{"type": "subscribe", "channel": "proxied:ok"}); r.ErrorCode() != 105 || b.calls() != calls {
		t.Fatalf("second subscribe %v, backend asked again: %v", r, b.calls() != calls)
	}
	r := c.Call(map[string]any{"type": "subscribe", "channel": "proxied:no"})
	if r.ErrorCode() != 103 || !strings.Contains(ht.JSON(r["error"]), "not your room") {
		t.Fatalf("refused subscribe %v", r)
	}
	for _, ch := range []string{"proxied:down", "proxied:bad"} {
		if r := c.Call(map[string]any{"type": "subscribe", "channel": ch}); r.ErrorCode() != 100 {
			t.Fatalf("subscribe to %s with a failing backend: %v", ch, r)
		}
	}
	// Other namespaces do not ask.
	calls = b.calls()
	if r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:x"}); r.ErrorCode() != 0 || b.calls() != calls {
		t.Fatalf("chat subscribe %v (backend asked: %v)", r, b.calls() != calls)
	}
	// Connect's own subs ask too.
	c2 := s.Dial(t)
	cr := c2.Call(map[string]any{"type": "connect", "token": ht.Token(t, "bob", nil),
		"subs": map[string]any{"proxied:ok": map[string]any{}, "proxied:no": map[string]any{}}})
	subs := cr.Result()["subs"].(map[string]any)
	if subs["proxied:ok"].(map[string]any)["error"] != nil || subs["proxied:no"].(map[string]any)["error"] == nil {
		t.Fatalf("connect subs %v", subs)
	}
	// The server API subscribes without asking: the backend decided.
	calls = b.calls()
	s.MustAPI("subscribe", map[string]any{"user": "bob", "channel": "proxied:no"})
	c.Push("subscribed")
	if b.calls() != calls {
		t.Fatalf("server-side subscribe asked the backend")
	}
	s.StillServes(t)
}

func TestUserConnectionLimit(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{MaxConnectionsPerUser: 2}})
	tok := ht.Token(t, "carol", nil)
	a, _ := s.Connect(t, tok)
	s.Connect(t, tok)
	c := s.Dial(t)
	if r := c.Call(map[string]any{"type": "connect", "token": tok}); r.ErrorCode() != 106 {
		t.Fatalf("third connect %v, want 106", r)
	}
	c.ExpectClose(4005)
	// Other users are not affected.
	s.Connect(t, ht.Token(t, "dave", nil))
	// A closed connection frees its place.
	a.Conn.Close(websocket.StatusNormalClosure, "")
	ht.Eventually(t, 5*time.Second, func() bool {
		c := s.Dial(t)
		r := c.Call(map[string]any{"type": "connect", "token": tok})
		return r.ErrorCode() == 0
	}, "carol connects again")
}

func TestUserConnectionLimitOff(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{MaxConnectionsPerUser: -1}, Server: server.Config{ConnectRatePerIP: -1}})
	tok := ht.Token(t, "erin", nil)
	for range 101 { // past the default of 100
		s.Connect(t, tok)
	}
}

// TestUserConnectionLimitRace: connects that pass the first limit check
// together and are held there (their connect subs wait on the subscribe
// proxy until every one has asked) never let the user past the limit.
func TestUserConnectionLimitRace(t *testing.T) {
	const n = 8
	var arrived atomic.Int64
	ready := make(chan struct{})
	b := newBackend(t, answer(`{"result": {"user": "racer"}}`), func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(ready)
		}
		select {
		case <-ready:
		case <-r.Context().Done():
			return
		}
		answer(`{"result": {}}`)(w, r)
	})
	s := startProxied(t, b, 10*time.Second, hub.Config{MaxConnectionsPerUser: 3})
	s.Connect(t, ht.Token(t, "racer", nil))
	s.Connect(t, ht.Token(t, "racer", nil))

	clients := make([]*ht.Client, n)
	for i := range clients {
		clients[i] = dialCookie(t, s, "session=racer")
		clients[i].Send(map[string]any{"id": 1, "type": "connect", "subs": map[string]any{"proxied:race": map[string]any{}}})
	}
	passed := 0
	for _, c := range clients {
		r := c.Wait(func(m ht.Msg) bool { return m.ID() == 1 }, "connect reply")
		switch r.ErrorCode() {
		case 0:
			passed++
		case 106:
			c.ExpectClose(4005)
		default:
			t.Fatalf("connect %v", r)
		}
	}
	if passed > 1 {
		t.Fatalf("%d connects passed a limit with room for one", passed)
	}
}

// TestSubscribeProxyAfterLimits: a connect with 2,000 subs in a proxied
// namespace costs the backend at most one call per subscription the
// connection may hold (the channel limit, checked first), and each entry
// costs one of the connection's commands: past the command rate, entries
// are refused with 110 without a call. A repeated subscribe is refused
// without one.
func TestSubscribeProxyAfterLimits(t *testing.T) {
	b := newBackend(t, nil, answer(`{"result": {}}`))
	s := startProxied(t, b, 0, hub.Config{MaxChannelsPerConnection: 20, CommandBurst: 10, CommandRate: 1})
	subs := map[string]any{}
	for i := range 2000 {
		subs[fmt.Sprintf("proxied:%04d", i)] = map[string]any{}
	}
	c := s.Dial(t)
	res := c.Call(map[string]any{"type": "connect", "token": ht.Token(t, "bob", nil), "subs": subs}).Result()
	got := res["subs"].(map[string]any)
	codes := map[int]int{}
	for _, r := range got {
		e, _ := r.(map[string]any)["error"].(map[string]any)
		codes[ht.Num(e["code"])]++
	}
	// The entries take the burst of 10, then get 110; the channel limit
	// is not reached.
	if b.calls() != 10 || codes[0] != 10 || codes[110] != 1990 {
		t.Fatalf("%d backend calls; results by error code %v", b.calls(), codes)
	}

	s2 := startProxied(t, b, 0, hub.Config{MaxChannelsPerConnection: 20})
	calls := b.calls()
	c2 := s2.Dial(t)
	res = c2.Call(map[string]any{"type": "connect", "token": ht.Token(t, "bob", nil), "subs": subs}).Result()
	codes = map[int]int{}
	for _, r := range res["subs"].(map[string]any) {
		e, _ := r.(map[string]any)["error"].(map[string]any)
		codes[ht.Num(e["code"])]++
	}
	if b.calls()-calls != 20 || codes[0] != 20 || codes[106] != 1980 {
		t.Fatalf("%d backend calls; results by error code %v", b.calls()-calls, codes)
	}
	calls = b.calls()
	if r := c2.Call(map[string]any{"type": "subscribe", "channel": "proxied:0000"}); r.ErrorCode() != 105 || b.calls() != calls {
		t.Fatalf("repeated subscribe: %v, backend asked: %v", r, b.calls() != calls)
	}
	if r := c2.Call(map[string]any{"type": "subscribe", "channel": "proxied:9999"}); r.ErrorCode() != 106 || b.calls() != calls {
		t.Fatalf("subscribe past the channel limit: %v, backend asked: %v", r, b.calls() != calls)
	}
}
