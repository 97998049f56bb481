package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/admin"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// password is the test console's password.
const password = "correct horse battery staple"

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// console is a test server with the admin console mounted at /admin/.
type console struct {
	*ht.Server
	logs  *syncBuffer
	level *slog.LevelVar
}

// startConsole starts a server with the console, whose handler is built on
// the server's own hub once the server runs; opts may change the options
// before New sees them.
func startConsole(t *testing.T, opts ...func(*admin.Options)) *console {
	t.Helper()
	return startConsoleWith(t, ht.Options{}, opts...)
}

// startConsoleWith is startConsole on a server started with base.
func startConsoleWith(t *testing.T, base ht.Options, opts ...func(*admin.Options)) *console {
	t.Helper()
	var handler atomic.Pointer[http.Handler]
	late := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) })
	base.Server.Pages = map[string]http.Handler{admin.Prefix: late}
	s := ht.Start(t, base)
	c := &console{Server: s, logs: &syncBuffer{}, level: new(slog.LevelVar)}
	o := admin.Options{
		Hub: s.Hub, Password: password, LevelVar: c.level,
		Logger: slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range opts {
		f(&o)
	}
	h, err := admin.New(o)
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	handler.Store(&h)
	return c
}

// browser is an HTTP client that shows redirects instead of following
// them, with a cookie jar.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// login logs a fresh browser in and returns it.
func (c *console) login(t *testing.T) *http.Client {
	t.Helper()
	b := browser(t)
	resp := c.postForm(t, b, password, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("login: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return b
}

// postForm posts the login form with pw and extra headers.
func (c *console) postForm(t *testing.T, b *http.Client, pw string, header map[string]string) *http.Response {
	t.Helper()
	body := "password=" + strings.ReplaceAll(pw, " ", "+")
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/admin/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.URL)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, b, req)
}

func do(t *testing.T, b *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := b.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp
}

// reply is a decoded API answer with its status.
type reply struct {
	status int
	body   map[string]any
	header http.Header
}

// errCode is the protocol code of an error reply.
func (r reply) errCode() int {
	e, _ := r.body["error"].(map[string]any)
	f, _ := e["code"].(float64)
	return int(f)
}

// get calls a read-only API path as b.
func (c *console) get(t *testing.T, b *http.Client, path string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.URL+"/admin/api/"+path, nil)
	return decode(t, do(t, b, req))
}

// post calls a state-changing API path as a logged-in page would: with the
// CSRF header and the console's origin, plus header.
func (c *console) post(t *testing.T, b *http.Client, path string, body any, header map[string]string) reply {
	t.Helper()
	var raw []byte
	switch v := body.(type) {
	case string:
		raw = []byte(v)
	default:
		raw, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/admin/api/"+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Herald-Admin", "1")
	req.Header.Set("Origin", c.URL)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return decode(t, do(t, b, req))
}

func decode(t *testing.T, resp *http.Response) reply {
	t.Helper()
	r := reply{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s: body is not JSON: %q", resp.Request.URL.Path, raw)
		}
	}
	return r
}

// bearer is a client that sends the password as a bearer token.
type bearer struct{ pw string }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.pw)
	return http.DefaultTransport.RoundTrip(req)
}

func bearerClient(pw string) *http.Client { return &http.Client{Transport: bearer{pw}} }
