package demo

import (
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"time"

	jsclient "github.com/heraldhq/herald/clients/js"
)

// Path is the mux pattern the handler is mounted at.
const Path = "/demo/"

// BundleFile is the name, under [Path], of Herald's JavaScript client
// (@heraldhq/client's browser bundle), which the page imports.
const BundleFile = "herald.min.js"

// Options configures the demo handler. Zero values mean the default stated.
type Options struct {
	// TokenSecret is the HS256 secret the server verifies connection tokens
	// with. Required.
	TokenSecret []byte
	// Namespace is the namespace rooms live in: room "lobby" is channel
	// "<Namespace>:lobby". Default "chat".
	Namespace string
	// TokenTTL is the life of a token the page gets; the page refreshes it
	// before it expires. Default 15 minutes.
	TokenTTL time.Duration
	// Now is the clock that stamps tokens. Default time.Now.
	Now func() time.Time
}

// Handler serves the page, its assets, the JavaScript client it runs on and
// the token endpoint under [Path].
type Handler struct {
	opts Options
	mux  *http.ServeMux
}

//go:embed ui
var uiFiles embed.FS

// New returns the demo handler. It fails without a secret or with a
// namespace that cannot prefix a channel name.
func New(opts Options) (*Handler, error) {
	if len(opts.TokenSecret) == 0 {
		return nil, errors.New("demo: a token secret is required")
	}
	if opts.Namespace == "" {
		opts.Namespace = "chat"
	}
	if !validNamespace(opts.Namespace) {
		return nil, errors.New("demo: namespace must be 1-64 letters, digits, '_', '-' or '.'")
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ui, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	static := http.StripPrefix(Path, http.FileServerFS(ui))
	h.mux.Handle("GET "+Path, static)
	// The page imports Herald's JavaScript client from here: the bundle
	// this binary embeds, so the page always runs the client of its server.
	h.mux.Handle("GET "+Path+BundleFile, jsclient.Handler())
	h.mux.HandleFunc("POST "+Path+"token", h.token)
	// Without this, GET would fall through to the file server's 404.
	h.mux.HandleFunc("GET "+Path+"token", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
	})
	return h, nil
}

// ServeHTTP serves a request under [Path] with the page's security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	h.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy lets the page load only its own script and style
// and talk only to its own origin (fetch and WebSocket: CSP 3 lets 'self'
// match ws: and wss: on the same host). No inline code, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
