package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldhq/herald/hub"
)

// Prefix is the path the handler serves; mount it there.
const Prefix = "/admin/"

// sessionTTL is how long a login lasts.
const sessionTTL = 12 * time.Hour

// deviceTTL is how long a browser's device cookie lasts, at most: its key
// is made at start, like the sessions', so every device cookie also ends
// with the process.
const deviceTTL = 90 * 24 * time.Hour

//go:embed ui
var uiFiles embed.FS

// ErrNoPassword is returned by New when Options.Password is empty: the
// console is off unless an operator chose a password.
var ErrNoPassword = errors.New("admin: a password is required")

// Options configure the console.
type Options struct {
	// Hub is the node whose cluster the console shows. Required.
	Hub *hub.Hub
	// Password is what an operator logs in with. Required: with none, New
	// refuses.
	Password string
	// SecureCookie marks the console's cookies Secure on every request,
	// for a console behind a TLS-terminating proxy that does not say so in
	// X-Forwarded-Proto. Without it, they are Secure when the request came
	// over TLS or says X-Forwarded-Proto: https.
	SecureCookie bool
	// LevelVar, when set, is the log level the console shows and changes;
	// without it the level cannot be changed from the console.
	LevelVar *slog.LevelVar
	// Logger receives the console's audit log (logins, publishes,
	// disconnects, level changes). Default: discard.
	Logger *slog.Logger
}

// handler is the console.
type handler struct {
	hub      *hub.Hub
	password [sha256.Size]byte
	level    *slog.LevelVar
	log      *slog.Logger
	sessions *sessions
	// devices signs the device cookies of browsers that have logged in.
	devices      *sessions
	guard        *guard
	secureCookie bool
	login        *template.Template
	mux          *http.ServeMux
}

// New returns the console's handler, to be mounted at Prefix.
func New(opts Options) (http.Handler, error) {
	if opts.Password == "" {
		return nil, ErrNoPassword
	}
	if opts.Hub == nil {
		return nil, errors.New("admin: a hub is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var key, deviceKey [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(deviceKey[:]); err != nil {
		return nil, err
	}
	login, err := template.ParseFS(uiFiles, "ui/login.html")
	if err != nil {
		return nil, err
	}
	h := &handler{
		hub:          opts.Hub,
		password:     sha256.Sum256([]byte(opts.Password)),
		level:        opts.LevelVar,
		log:          opts.Logger,
		sessions:     newSessions(key, sessionTTL),
		devices:      newSessions(deviceKey, deviceTTL),
		guard:        newGuard(),
		secureCookie: opts.SecureCookie,
		login:        login,
		mux:          http.NewServeMux(),
	}
	h.routes()
	return h, nil
}

func (h *handler) routes() {
	m := h.mux
	m.HandleFunc("GET /admin/{$}", h.serveIndex)
	m.HandleFunc("GET /admin/login", h.serveLogin)
	m.HandleFunc("POST /admin/login", h.doLogin)
	m.HandleFunc("POST /admin/logout", h.mutating(h.doLogout))
	m.Handle("GET /admin/assets/", http.StripPrefix("/admin/assets/", http.HandlerFunc(serveAsset)))

	m.HandleFunc("GET /admin/api/nodes", h.reading(h.apiNodes))
	m.HandleFunc("GET /admin/api/channels", h.reading(h.apiChannels))
	m.HandleFunc("GET /admin/api/presence", h.reading(h.apiPresence))
	m.HandleFunc("GET /admin/api/history", h.reading(h.apiHistory))
	m.HandleFunc("GET /admin/api/loglevel", h.reading(h.apiGetLevel))
	m.HandleFunc("POST /admin/api/publish", h.mutating(h.apiPublish))
	m.HandleFunc("POST /admin/api/disconnect", h.mutating(h.apiDisconnect))
	m.HandleFunc("POST /admin/api/loglevel", h.mutating(h.apiSetLevel))
}

// contentPolicy lets pages load only the console's own scripts and styles:
// no inline script, no framing, forms post only here.
const contentPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// serveIndex serves the dashboard to a logged-in browser and sends anyone
// else to the login page.
func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	if !h.hasSession(r) {
		http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
		return
	}
	serveFile(w, "ui/index.html", "text/html; charset=utf-8")
}

var assetTypes = map[string]string{
	"app.js":    "text/javascript; charset=utf-8",
	"style.css": "text/css; charset=utf-8",
}

// serveAsset serves the dashboard's script and style sheet. They hold no
// secret, and the login page needs the style sheet before any session.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	typ, ok := assetTypes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	serveFile(w, "ui/"+r.URL.Path, typ)
}

func serveFile(w http.ResponseWriter, name, typ string) {
	b, err := uiFiles.ReadFile(name)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", typ)
	_, _ = w.Write(b)
}
