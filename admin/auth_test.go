package admin_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/admin"
)

func TestNewRefusesWithoutPassword(t *testing.T) {
	c := startConsole(t)
	if _, err := admin.New(admin.Options{Hub: c.Hub}); !errors.Is(err, admin.ErrNoPassword) {
		t.Fatalf("New without password: %v, want ErrNoPassword", err)
	}
	if _, err := admin.New(admin.Options{Password: "x"}); err == nil {
		t.Fatal("New without hub succeeded")
	}
}

func TestLoginRequired(t *testing.T) {
	c := startConsole(t)
	b := browser(t)
	resp := do(t, b, mustReq(http.MethodGet, c.URL+"/admin/"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Fatalf("dashboard without session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"nodes", "channels", "presence?channel=chat:a", "history?channel=chat:a", "loglevel"} {
		if r := c.get(t, b, path); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s without session: %d", path, r.status)
		}
	}
	for _, path := range []string{"publish", "disconnect", "loglevel"} {
		if r := c.post(t, b, path, map[string]any{}, nil); r.status != http.StatusUnauthorized {
			t.Errorf("POST %s without session: %d", path, r.status)
		}
	}
	resp = do(t, b, mustReq(http.MethodGet, c.URL+"/admin/login"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body(resp), `name="password"`) {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	// The style sheet is public (the login page uses it); unknown files are not served.
	if resp := do(t, b, mustReq(http.MethodGet, c.URL+"/admin/assets/style.css")); resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("style sheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp := do(t, b, mustReq(http.MethodGet, c.URL+"/admin/assets/index.html")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("assets/index.html: %d, want 404", resp.StatusCode)
	}
}

func TestLogin(t *testing.T) {
	c := startConsole(t)
	b := browser(t)
	resp := c.postForm(t, b, "wrong", nil)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("wrong password: %d, cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if !strings.Contains(body(resp), "Wrong password") {
		t.Fatalf("wrong password page: %s", body(resp))
	}
	resp = c.postForm(t, b, password, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	// The session, and the browser's device cookie (throttle_test.go).
	cookies := resp.Cookies()
	if len(cookies) != 2 || cookies[0].Name != "herald_admin" || cookies[1].Name != "herald_admin_device" {
		t.Fatalf("cookies: %v", cookies)
	}
	for _, ck := range cookies {
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/admin/" || ck.Secure || ck.Expires.IsZero() {
			t.Fatalf("cookie attributes: %+v", ck)
		}
		if strings.Contains(ck.Value, password) {
			t.Fatal("a cookie holds the password")
		}
	}
	resp = do(t, b, mustReq(http.MethodGet, c.URL+"/admin/"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body(resp), "Herald admin") {
		t.Fatalf("dashboard after login: %d", resp.StatusCode)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("dashboard without %s", h)
		}
	}
	if r := c.get(t, b, "nodes"); r.status != http.StatusOK {
		t.Fatalf("nodes after login: %d", r.status)
	}
	// A logged-in browser asking for the login page goes to the dashboard.
	if resp := do(t, b, mustReq(http.MethodGet, c.URL+"/admin/login")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login page with session: %d", resp.StatusCode)
	}
}

// TestSessionsAreThisConsoles checks that a forged, altered or foreign
// cookie is no session: the key is made at start.
func TestSessionsAreThisConsoles(t *testing.T) {
	c := startConsole(t)
	other := startConsole(t)
	b := other.login(t)
	foreign := b.Jar.Cookies(mustReq(http.MethodGet, other.URL+"/admin/").URL)[0].Value
	nonce, rest, _ := strings.Cut(foreign, ".")
	for name, v := range map[string]string{
		"foreign":    foreign,
		"altered":    flip(nonce) + "." + rest,
		"no mac":     nonce + "." + strings.Split(rest, ".")[0],
		"far future": nonce + ".99999999999." + strings.Split(rest, ".")[1],
		"garbage":    "x",
	} {
		req := mustReq(http.MethodGet, c.URL+"/admin/api/nodes")
		req.AddCookie(&http.Cookie{Name: "herald_admin", Value: v})
		if r := decode(t, do(t, http.DefaultClient, req)); r.status != http.StatusUnauthorized {
			t.Errorf("%s cookie: %d, want 401", name, r.status)
		}
	}
}

func TestLogout(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	u := mustReq(http.MethodGet, c.URL+"/admin/").URL
	session := func() *http.Cookie {
		for _, ck := range b.Jar.Cookies(u) {
			if ck.Name == "herald_admin" {
				return ck
			}
		}
		return nil
	}
	old := session()
	// Logging out is a change like any other: the CSRF header is required.
	req := mustReq(http.MethodPost, c.URL+"/admin/logout")
	req.Header.Set("Origin", c.URL)
	if resp := do(t, b, req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without header: %d", resp.StatusCode)
	}
	req = mustReq(http.MethodPost, c.URL+"/admin/logout")
	req.Header.Set("Origin", c.URL)
	req.Header.Set("X-Herald-Admin", "1")
	if resp := do(t, b, req); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// The device cookie stays (throttle_test.go): it is no session.
	if session() != nil {
		t.Fatal("logout left the session cookie")
	}
	// The old cookie, replayed, is dead.
	req = mustReq(http.MethodGet, c.URL+"/admin/api/nodes")
	req.AddCookie(old)
	if r := decode(t, do(t, http.DefaultClient, req)); r.status != http.StatusUnauthorized {
		t.Fatalf("cookie after logout: %d", r.status)
	}
	// Other sessions live on.
	if r := c.get(t, c.login(t), "nodes"); r.status != http.StatusOK {
		t.Fatalf("new session: %d", r.status)
	}
}

// TestLoginRateLimit checks that guessing stops after five failures from an
// address, even with the right password, and that bearer guesses count too.
func TestLoginRateLimit(t *testing.T) {
	c := startConsole(t)
	b := browser(t)
	for i := range 5 {
		if resp := c.postForm(t, b, "guess", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp := c.postForm(t, b, password, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("login after five failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if r := c.get(t, bearerClient(password), "nodes"); r.status != http.StatusTooManyRequests {
		t.Fatalf("bearer after five failures: %d", r.status)
	}
	// A session made before stays usable: the limit is on guessing.

	d := startConsole(t)
	for i := range 5 {
		if r := d.get(t, bearerClient("guess"), "nodes"); r.status != http.StatusUnauthorized {
			t.Fatalf("bearer guess %d: %d", i, r.status)
		}
	}
	if resp := d.postForm(t, browser(t), password, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("form login after five bearer failures: %d", resp.StatusCode)
	}
}

func TestSessionSurvivesOthersGuessing(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	for range 6 {
		c.postForm(t, browser(t), "guess", nil)
	}
	if r := c.get(t, b, "nodes"); r.status != http.StatusOK {
		t.Fatalf("session while the address is blocked: %d", r.status)
	}
}

func TestBearer(t *testing.T) {
	c := startConsole(t)
	if r := c.get(t, bearerClient(password), "nodes"); r.status != http.StatusOK {
		t.Fatalf("bearer: %d", r.status)
	}
	if r := c.get(t, bearerClient("nope"), "nodes"); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong bearer: %d", r.status)
	}
	req := mustReq(http.MethodGet, c.URL+"/admin/api/nodes")
	req.SetBasicAuth("admin", password)
	if r := decode(t, do(t, http.DefaultClient, req)); r.status != http.StatusUnauthorized {
		t.Fatalf("basic auth: %d", r.status)
	}
	// A script needs neither the CSRF header nor an Origin.
	r := c.post(t, bearerClient(password), "loglevel", map[string]string{"level": "warn"},
		map[string]string{"X-Herald-Admin": "", "Origin": ""})
	if r.status != http.StatusOK {
		t.Fatalf("bearer POST: %d %v", r.status, r.body)
	}
}

// TestCSRF checks that a session's state-changing request needs the custom
// header and the console's own origin.
func TestCSRF(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	body := map[string]string{"level": "debug"}
	for name, hdr := range map[string]map[string]string{
		"no header":               {"X-Herald-Admin": ""},
		"other origin":            {"Origin": "https://evil.example"},
		"null origin":             {"Origin": "null"},
		"no origin nor referer":   {"Origin": ""},
		"other referer":           {"Origin": "", "Referer": "https://evil.example/page"},
		"cross-site fetch":        {"Sec-Fetch-Site": "cross-site"},
		"same-site, other origin": {"Sec-Fetch-Site": "same-site"},
	} {
		if r := c.post(t, b, "loglevel", body, hdr); r.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.status)
		}
	}
	if c.level.Level() != 0 {
		t.Fatalf("a refused request changed the level to %v", c.level.Level())
	}
	for name, hdr := range map[string]map[string]string{
		"origin":            nil,
		"referer":           {"Origin": "", "Referer": c.URL + "/admin/"},
		"same-origin fetch": {"Sec-Fetch-Site": "same-origin"},
	} {
		if r := c.post(t, b, "loglevel", body, hdr); r.status != http.StatusOK {
			t.Errorf("%s: %d, want 200 (%v)", name, r.status, r.body)
		}
	}
	// Reads need no header: they change nothing.
	if r := c.get(t, b, "loglevel"); r.status != http.StatusOK {
		t.Fatalf("GET loglevel: %d", r.status)
	}
	// Another site cannot log a browser in either.
	if resp := c.postForm(t, browser(t), password, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin login: %d", resp.StatusCode)
	}
}

// TestNoPasswordInLogs logs in right and wrong, by form and bearer, and
// looks for the password and the guesses in everything logged.
func TestNoPasswordInLogs(t *testing.T) {
	c := startConsole(t)
	const guess = "hunter2-guess"
	c.postForm(t, browser(t), guess, nil)
	c.get(t, bearerClient(guess), "nodes")
	b := c.login(t)
	c.get(t, bearerClient(password), "nodes")
	c.post(t, b, "loglevel", map[string]string{"level": "debug"}, nil)
	c.post(t, b, "publish", map[string]any{"channel": "chat:x", "data": 1}, nil)
	logs := c.logs.String()
	if !strings.Contains(logs, "login failed") || !strings.Contains(logs, "logged in") {
		t.Fatalf("the audit log misses logins:\n%s", logs)
	}
	for _, secret := range []string{password, guess, "hunter2"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
}

func mustReq(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

func body(resp *http.Response) string {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

// flip changes the first character of s.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
