package admin_test

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/admin"
)

// browserFrom is a browser whose connections leave from ip: every address
// of 127/8 reaches the loopback listener.
func browserFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Jar:           jar,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// logoutReq is the dashboard's logout request.
func logoutReq(c *console) *http.Request {
	req := mustReq(http.MethodPost, c.URL+"/admin/logout")
	req.Header.Set("Origin", c.URL)
	req.Header.Set("X-Herald-Admin", "1")
	return req
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// guessUntilBlocked posts wrong passwords as b until the console answers
// 429.
func (c *console) guessUntilBlocked(t *testing.T, b *http.Client) {
	t.Helper()
	for i := range 10 {
		switch resp := c.postForm(t, b, "guess", nil); resp.StatusCode {
		case http.StatusTooManyRequests:
			return
		case http.StatusUnauthorized:
		default:
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	t.Fatal("ten wrong guesses and still not blocked")
}

// TestGuessingLocksOutOnlyItsAddress: a flood of wrong passwords from one
// address blocks that address, not another one.
func TestGuessingLocksOutOnlyItsAddress(t *testing.T) {
	c := startConsole(t)
	c.guessUntilBlocked(t, browserFrom(t, "127.0.0.2"))
	if resp := c.postForm(t, browserFrom(t, "127.0.0.2"), password, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password from the guessing address: %d, want 429", resp.StatusCode)
	}
	if resp := c.postForm(t, browserFrom(t, "127.0.0.3"), password, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login from another address: %d, want 303", resp.StatusCode)
	}
}

// TestKnownBrowserNotLockedOut: a browser that has logged in before keeps
// its own allowance of attempts, so guessing from the address it shares
// (one reverse proxy in front of everyone, say) cannot lock it out; a new
// browser there waits like the guesser, a forged device cookie counts for
// nothing, and the known browser's own wrong guesses block only it.
func TestKnownBrowserNotLockedOut(t *testing.T) {
	c := startConsole(t)
	known := browserFrom(t, "127.0.0.2")
	c.postForm(t, known, password, nil)
	if resp := do(t, known, logoutReq(c)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}

	c.guessUntilBlocked(t, browserFrom(t, "127.0.0.2"))
	if resp := c.postForm(t, browserFrom(t, "127.0.0.2"), password, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("new browser behind the guessing address: %d, want 429", resp.StatusCode)
	}
	forged := browserFrom(t, "127.0.0.2")
	forged.Jar.SetCookies(mustURL(c.URL+"/admin/"), []*http.Cookie{{Name: "herald_admin_device", Value: "bm9uY2U.4102444800.bWFj"}})
	if resp := c.postForm(t, forged, password, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("forged device cookie behind the guessing address: %d, want 429", resp.StatusCode)
	}
	if resp := c.postForm(t, known, password, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("known browser behind the guessing address: %d, want 303", resp.StatusCode)
	}

	d := startConsole(t)
	knownD := browserFrom(t, "127.0.0.4")
	d.postForm(t, knownD, password, nil)
	d.guessUntilBlocked(t, knownD)
	if resp := d.postForm(t, knownD, password, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("known browser after its own guesses: %d, want 429", resp.StatusCode)
	}
	if resp := d.postForm(t, browserFrom(t, "127.0.0.4"), password, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another browser at that address: %d, want 303", resp.StatusCode)
	}
}

// TestSecureCookies: the console's cookies are Secure when a
// TLS-terminating proxy says so in X-Forwarded-Proto, or on every request
// with the SecureCookie option; otherwise not over plain HTTP.
func TestSecureCookies(t *testing.T) {
	secure := func(c *console, header map[string]string) []bool {
		t.Helper()
		resp := c.postForm(t, browser(t), password, header)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		var out []bool
		for _, ck := range resp.Cookies() {
			out = append(out, ck.Secure)
		}
		return out
	}
	plain := startConsole(t)
	if got := secure(plain, nil); len(got) != 2 || got[0] || got[1] {
		t.Fatalf("plain HTTP: Secure %v, want [false false]", got)
	}
	if got := secure(plain, map[string]string{"X-Forwarded-Proto": "https"}); len(got) != 2 || !got[0] || !got[1] {
		t.Fatalf("X-Forwarded-Proto: https: Secure %v, want [true true]", got)
	}
	opt := startConsole(t, func(o *admin.Options) { o.SecureCookie = true })
	if got := secure(opt, nil); len(got) != 2 || !got[0] || !got[1] {
		t.Fatalf("SecureCookie: Secure %v, want [true true]", got)
	}
	// Logging out deletes the session cookie with the same attributes.
	resp := do(t, opt.login(t), logoutReq(opt))
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "herald_admin=;") || !strings.Contains(sc, "Secure") {
		t.Fatalf("logout Set-Cookie %q", sc)
	}
}
