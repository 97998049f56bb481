// Package landing serves the page a development server shows on /: where
// the demo, the admin UI, the metrics and the docs are, and how to use the
// server API key, so that a first run needs nothing but a browser. It is
// one embedded HTML template with no build step and no script.
package landing

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"regexp"
)

// Pattern is the mux pattern the page is mounted at: "/" alone, so that
// every other unknown path stays 404.
const Pattern = "GET /{$}"

// Options says what the server serves, for the page's links and hints.
type Options struct {
	// Demo, Admin and Metrics say whether /demo/, /admin/ and /metrics are
	// served; the page says how to turn on what is off.
	Demo, Admin, Metrics bool
	// KeyFile is the file the server wrote its generated API key to, ""
	// when the key came from the configuration. The page names the file
	// but never shows the key: loopback is shared by every user and
	// program on the machine, and a page is readable by any site that
	// rebinds its DNS name to 127.0.0.1, while the file is the owner's
	// alone.
	KeyFile string
	// Version picks the documentation linked: a release's version
	// ("v1.2.3") links that release's docs, anything else the main branch.
	Version string
}

// Handler serves the page.
type Handler struct {
	opts Options
	docs string
}

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// repository is where the docs live.
const repository = "https://github.com/heraldhq/herald"

var release = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// New returns the page's handler.
func New(opts Options) *Handler {
	ref := "main"
	if release.MatchString(opts.Version) {
		ref = opts.Version
	}
	return &Handler{opts: opts, docs: repository + "/blob/" + ref + "/"}
}

// ServeHTTP renders the page. It needs no state of the server, so a
// request never waits on anything.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, web := "ws://", "http://"
	if r.TLS != nil {
		ws, web = "wss://", "https://"
	}
	var b bytes.Buffer
	err := page.Execute(&b, struct {
		Options
		Docs, WSURL, HTTPURL string
	}{h.opts, h.docs, ws + r.Host + "/ws", web + r.Host})
	if err != nil {
		http.Error(w, "page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// connect-src 'self': the console snippet the page offers opens a
	// WebSocket to this server, and CSP binds the console too.
	hd.Set("Content-Security-Policy", "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}
