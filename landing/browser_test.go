package landing_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/browsertest"
	"github.com/heraldhq/herald/landing"
)

// TestBrowserLanding renders the page in Chromium at 1280 and 390 px and
// follows its links to the demo and the metrics (stand-ins here: the
// page's own server is cmd/herald's business).
func TestBrowserLanding(t *testing.T) {
	browsertest.Require(t)
	mux := http.NewServeMux()
	mux.Handle(landing.Pattern, landing.New(landing.Options{Demo: true, Metrics: true, KeyFile: "/home/me/herald/herald-data/dev-api-key", Version: "dev"}))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.Handle("GET /demo/", ok)
	mux.Handle("GET /metrics", ok)
	// An echo for the page's console snippet, in place of the hub.
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"herald.v1.json"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, b, err := c.Read(r.Context())
		if err == nil {
			c.Write(r.Context(), typ, b)
			c.Read(r.Context()) // until the page closes
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	browsertest.Run(t, "testdata/landing.cjs", time.Minute, "LANDING_URL="+srv.URL+"/")
}
