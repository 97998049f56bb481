package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cookieName names the session cookie.
const cookieName = "herald_admin"

// deviceCookieName names the device cookie: a browser that has logged in
// keeps it, and its password attempts count under it rather than under
// its address (guard.go).
const deviceCookieName = "herald_admin_device"

// sessions issues and checks session cookies. A cookie is
// "nonce.expiry.mac", the MAC an HMAC-SHA256 of the rest under a key made
// at start: nothing is stored per session except the nonces of sessions
// logged out before they expired.
type sessions struct {
	key [32]byte
	ttl time.Duration

	mu      sync.Mutex
	revoked map[string]time.Time // nonce -> expiry
}

func newSessions(key [32]byte, ttl time.Duration) *sessions {
	return &sessions{key: key, ttl: ttl, revoked: make(map[string]time.Time)}
}

func (s *sessions) mac(payload string) string {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue returns a new session's cookie value and when it expires.
func (s *sessions) issue(now time.Time) (string, time.Time) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	exp := now.Add(s.ttl).Truncate(time.Second)
	payload := base64.RawURLEncoding.EncodeToString(nonce[:]) + "." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + s.mac(payload), exp
}

// check returns the session's nonce and expiry if value is a cookie this
// process issued, unexpired and not logged out.
func (s *sessions) check(value string, now time.Time) (string, time.Time, bool) {
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return "", time.Time{}, false
	}
	payload, mac := value[:i], value[i+1:]
	if !hmac.Equal([]byte(mac), []byte(s.mac(payload))) {
		return "", time.Time{}, false
	}
	nonce, expStr, _ := strings.Cut(payload, ".")
	sec, err := strconv.ParseInt(expStr, 10, 64)
	exp := time.Unix(sec, 0)
	if err != nil || !now.Before(exp) {
		return "", time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, gone := s.revoked[nonce]; gone {
		return "", time.Time{}, false
	}
	return nonce, exp, true
}

// revoke ends a session before it expires, and forgets revoked sessions
// that have expired anyway, so the list stays as short as the logouts of
// the last ttl.
func (s *sessions) revoke(nonce string, exp, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, e := range s.revoked {
		if !now.Before(e) {
			delete(s.revoked, n)
		}
	}
	s.revoked[nonce] = exp
}

// cookie returns a console cookie to set; an empty value with a past
// expiry deletes it.
func (h *handler) cookie(r *http.Request, name, value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     Prefix,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   h.secure(r),
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = exp
	}
	return c
}

// secure reports whether r's cookies are to be Secure: when TLS ends in
// Herald, when the setting says the console is served over HTTPS anyway,
// or when a TLS-terminating proxy says so in X-Forwarded-Proto. Anyone can
// send that header, but all it can do is make the sender's own cookie
// stricter: a browser does not send a Secure cookie over plain HTTP.
func (h *handler) secure(r *http.Request) bool {
	return r.TLS != nil || h.secureCookie || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// hasSession reports whether r carries a valid session cookie.
func (h *handler) hasSession(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	_, _, ok := h.sessions.check(c.Value, time.Now())
	return ok
}
