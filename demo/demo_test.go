package demo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	jsclient "github.com/heraldhq/herald/clients/js"
	"github.com/heraldhq/herald/demo"
)

var testSecret = []byte("demo-test-secret-0123456789abcdef")

func newHandler(t *testing.T, opts demo.Options) *httptest.Server {
	t.Helper()
	if opts.TokenSecret == nil {
		opts.TokenSecret = testSecret
	}
	h, err := demo.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(demo.Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestPageAndAssets serves the page and every file it loads, each with the
// security headers, and nothing else.
func TestPageAndAssets(t *testing.T) {
	srv := newHandler(t, demo.Options{})
	for path, ctype := range map[string]string{
		"/demo/":              "text/html",
		"/demo/app.js":        "text/javascript",
		"/demo/herald.min.js": "text/javascript",
		"/demo/style.css":     "text/css",
		"/demo/favicon.svg":   "image/svg+xml",
	} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, ctype) {
			t.Errorf("%s: Content-Type %q, want %s", path, got, ctype)
		}
		checkSecurityHeaders(t, path, resp.Header)
		if len(body) == 0 {
			t.Errorf("%s: empty body", path)
		}
	}
	for path, status := range map[string]int{
		"/demo/nope.js":   http.StatusNotFound,
		"/demo/herald.js": http.StatusNotFound,
		"/demo/ui/app.js": http.StatusNotFound,
		"/demo/../go.mod": http.StatusNotFound,
	} {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, status)
		}
	}
	resp, err := http.Post(srv.URL+"/demo/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /demo/: status %d, want 405", resp.StatusCode)
	}
}

// TestPageRunsTheEmbeddedClient: the page imports Herald's JavaScript
// client from the handler, which serves the bundle this binary embeds, so
// that the page never runs a client older or newer than its server.
func TestPageRunsTheEmbeddedClient(t *testing.T) {
	srv := newHandler(t, demo.Options{})
	resp, bundle := get(t, srv.URL+demo.Path+demo.BundleFile)
	if resp.StatusCode != http.StatusOK || bundle != string(jsclient.Bundle()) {
		t.Fatalf("%s: status %d, %d bytes; want the %d bytes of jsclient.Bundle()", demo.BundleFile, resp.StatusCode, len(bundle), len(jsclient.Bundle()))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("%s: Cache-Control %q, want no-cache (revalidated on every load)", demo.BundleFile, cc)
	}
	_, app := get(t, srv.URL+demo.Path+"app.js")
	if !strings.Contains(app, "from './"+demo.BundleFile+"'") {
		t.Errorf("app.js does not import ./%s", demo.BundleFile)
	}
}

// checkSecurityHeaders insists on a policy without inline code, foreign
// origins or framing.
func checkSecurityHeaders(t *testing.T, path string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:", "data:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: CSP %q allows %q", path, csp, bad)
		}
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("%s: missing nosniff or frame options: %v", path, h)
	}
}

// TestPageHasNoInlineCode keeps the page working under its own policy: the
// CSP would silently block inline scripts, handlers and styles.
func TestPageHasNoInlineCode(t *testing.T) {
	srv := newHandler(t, demo.Options{})
	_, page := get(t, srv.URL+"/demo/")
	for _, re := range []string{`<script(?:\s[^>]*)?>\s*[^<\s]`, `\son[a-z]+\s*=`, `\sstyle\s*=`, `<style`, `(?:src|href)\s*=\s*"(?:https?:)?//`} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("page has inline or foreign code: %q", m)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("script without src: %s", tag)
		}
	}
	for _, file := range []string{"app.js", demo.BundleFile} {
		_, js := get(t, srv.URL+"/demo/"+file)
		if regexp.MustCompile(`\.(?:inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function`).MatchString(js) {
			t.Errorf("%s writes HTML or evaluates strings", file)
		}
	}
}
