package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/browsertest"
)

// TestHarness checks the harness itself: Chromium loads a local page, a
// click runs its script, and the script's failure would fail the test.
func TestHarness(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><button id="go" onclick="document.getElementById('out').textContent='clicked'">go</button><p id="out"></p>`))
	}))
	defer srv.Close()
	browsertest.Run(t, "testdata/smoke.cjs", time.Minute, "URL="+srv.URL)
}
