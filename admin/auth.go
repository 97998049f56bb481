package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// csrfHeader must accompany every state-changing request made with the
// session cookie. Its value does not matter: a cross-site page cannot set
// it on a form, nor send it from a script without a preflight.
const csrfHeader = "X-Herald-Admin"

// maxLoginBody bounds the login form.
const maxLoginBody = 4096

// passwordOK compares in constant time; hashing first makes the lengths
// equal, so the time taken says nothing about the password either.
func (h *handler) passwordOK(p string) bool {
	d := sha256.Sum256([]byte(p))
	return subtle.ConstantTimeCompare(d[:], h.password[:]) == 1
}

// authKind is how a request proved it comes from an operator.
type authKind int

const (
	authNone authKind = iota
	authSession
	authBearer
)

// authenticate returns how r is authenticated, or writes the refusal
// (401, or 429 for an address out of attempts) and returns authNone.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) authKind {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, pw, _ := strings.Cut(a, " ")
		if !strings.EqualFold(scheme, "bearer") {
			writeError(w, http.StatusUnauthorized, "unsupported authorization scheme")
			return authNone
		}
		key, now := h.attemptKey(r), time.Now()
		if h.guard.blocked(key, now) {
			tooManyAttempts(w)
			writeError(w, http.StatusTooManyRequests, "too many failed attempts")
			return authNone
		}
		if !h.passwordOK(strings.TrimSpace(pw)) {
			h.guard.failed(key, now)
			h.log.Warn("admin: wrong bearer password", "remote", remoteKey(r))
			writeError(w, http.StatusUnauthorized, "wrong password")
			return authNone
		}
		return authBearer
	}
	if h.hasSession(r) {
		return authSession
	}
	writeError(w, http.StatusUnauthorized, "login required")
	return authNone
}

// reading wraps an API call that changes nothing: any authentication will do.
func (h *handler) reading(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.authenticate(w, r) == authNone {
			return
		}
		fn(w, r)
	}
}

// mutating wraps a call that changes something: a session must also pass
// the cross-site request checks.
func (h *handler) mutating(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch h.authenticate(w, r) {
		case authNone:
			return
		case authSession:
			if r.Header.Get(csrfHeader) == "" {
				writeError(w, http.StatusForbidden, "missing "+csrfHeader+" header")
				return
			}
			if !sameOrigin(r) {
				writeError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
		}
		fn(w, r)
	}
}

// originSignals reads what the browser says of where a request comes from:
// whether it said anything, and whether what it said names another origin.
// Hosts are compared, not schemes: behind a TLS-terminating proxy the
// request arrives as http while the page's origin is https.
func originSignals(r *http.Request) (present, cross bool) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		present = true
		cross = cross || site != "same-origin"
	}
	if o := r.Header.Get("Origin"); o != "" {
		present = true
		cross = cross || !sameHost(o, r.Host)
	} else if ref := r.Header.Get("Referer"); ref != "" {
		present = true
		cross = cross || !sameHost(ref, r.Host)
	}
	return present, cross
}

// sameOrigin reports whether the browser positively said r comes from the
// console's own origin.
func sameOrigin(r *http.Request) bool {
	present, cross := originSignals(r)
	return present && !cross
}

func sameHost(rawURL, host string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

func tooManyAttempts(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(loginEvery/time.Second)))
}

// loginPage is what the login template shows.
type loginPage struct {
	Error string
}

func (h *handler) renderLogin(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = h.login.Execute(w, loginPage{Error: msg})
}

func (h *handler) serveLogin(w http.ResponseWriter, r *http.Request) {
	if h.hasSession(r) {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.renderLogin(w, http.StatusOK, "")
}

// doLogin checks the posted password and starts a session. A form posted
// from another site is refused, so no one can log a browser into a session
// of theirs; a client that sends no origin at all (a script) may log in.
func (h *handler) doLogin(w http.ResponseWriter, r *http.Request) {
	if _, cross := originSignals(r); cross {
		h.renderLogin(w, http.StatusForbidden, "Cross-origin login refused.")
		return
	}
	key, addr, now := h.attemptKey(r), remoteKey(r), time.Now()
	if h.guard.blocked(key, now) {
		tooManyAttempts(w)
		h.renderLogin(w, http.StatusTooManyRequests, "Too many failed attempts. Wait a minute and try again.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, http.StatusBadRequest, "Malformed login form.")
		return
	}
	if !h.passwordOK(r.PostForm.Get("password")) {
		h.guard.failed(key, now)
		h.log.Warn("admin: login failed", "remote", addr)
		h.renderLogin(w, http.StatusUnauthorized, "Wrong password.")
		return
	}
	value, exp := h.sessions.issue(now)
	http.SetCookie(w, h.cookie(r, cookieName, value, exp))
	device, deviceExp := h.devices.issue(now)
	http.SetCookie(w, h.cookie(r, deviceCookieName, device, deviceExp))
	h.log.Info("admin: logged in", "remote", addr)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// doLogout ends the request's session, if it has one.
func (h *handler) doLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		now := time.Now()
		if nonce, exp, ok := h.sessions.check(c.Value, now); ok {
			h.sessions.revoke(nonce, exp, now)
		}
	}
	// The device cookie stays: it is no credential, only the browser's
	// own allowance of password attempts.
	http.SetCookie(w, h.cookie(r, cookieName, "", time.Time{}))
	w.WriteHeader(http.StatusNoContent)
}
