package landing_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/landing"
)

func get(t *testing.T, h http.Handler, target string) (*http.Response, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(landing.Pattern, h)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestPageLinksWhatIsOn: the page links the demo, the admin UI and the
// metrics when the server serves them, names the key file, and links the
// docs of the running release.
func TestPageLinksWhatIsOn(t *testing.T) {
	h := landing.New(landing.Options{Demo: true, Admin: true, Metrics: true, KeyFile: "/home/me/herald-data/dev-api-key", Version: "v1.2.3"})
	resp, body := get(t, h, "http://127.0.0.1:8000/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{
		`href="/demo/"`, `href="/admin/"`, `href="/metrics"`,
		`ws://127.0.0.1:8000/ws`, `curl -s http://127.0.0.1:8000/api/publish`,
		`$(cat "/home/me/herald-data/dev-api-key")`,
		`https://github.com/heraldhq/herald/blob/v1.2.3/docs/PROTOCOL.md`,
		`https://github.com/heraldhq/herald/blob/v1.2.3/docs/API.md`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

// TestPageSaysHowToTurnThingsOn: what is off comes with how to turn it
// on, a key from the configuration is not said to be in a file, and a
// development build links the main branch's docs.
func TestPageSaysHowToTurnThingsOn(t *testing.T) {
	_, body := get(t, landing.New(landing.Options{Version: "dev"}), "http://localhost:9000/")
	for _, want := range []string{"HERALD_ADMIN_PASSWORD=", "Demo chat: off", "metrics.enabled", "api_keys", "/blob/main/README.md"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, unwanted := range []string{`href="/demo/"`, `href="/admin/"`, `href="/metrics"`, "dev-api-key"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("page has %s", unwanted)
		}
	}
}

// TestPageIsOnlySlash: the pattern takes "/" and nothing under it.
func TestPageIsOnlySlash(t *testing.T) {
	h := landing.New(landing.Options{})
	for _, path := range []string{"/x", "/index.html", "/demo"} {
		if resp, _ := get(t, h, "http://localhost:8000"+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}
