package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/heraldhq/herald/internal/wait"
)

// jwksServer serves a JWK Set the test controls and counts the requests.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	body     []byte
	status   int
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// jwk describes one key of a served set.
type jwk struct {
	kid, alg string
	pub      any
	use      jwkset.USE
}

// serve replaces the served set.
func (s *jwksServer) serve(t *testing.T, keys ...jwk) {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		use := k.use
		if use == "" {
			use = jwkset.UseSig
		}
		_, symmetric := k.pub.([]byte) // jwkset marshals those as private
		j, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{
			Marshal:  jwkset.JWKMarshalOptions{Private: symmetric},
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: use},
		})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.setResponse(http.StatusOK, body)
}

func (s *jwksServer) setResponse(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// waitFor polls cond: the machine is noisy, so tests wait for events, not
// for durations.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, 30*time.Second, func() error {
		if cond() {
			return nil
		}
		return errors.New("waiting for " + what)
	})
}

func verifyOK(t *testing.T, v *Verifier, what, tok string) {
	t.Helper()
	if c, err := v.VerifyConnect(tok); err != nil || c.User != "u" {
		t.Fatalf("%s: %+v %v", what, c, err)
	}
}

func verifyInvalid(t *testing.T, v *Verifier, what, tok string) {
	t.Helper()
	if _, err := v.VerifyConnect(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("%s: %v, want ErrInvalidToken", what, err)
	}
}

var sub = map[string]any{"sub": "u"}

func TestJWKSVerifies(t *testing.T) {
	srv := newJWKSServer(t)
	rs, es, ed := genKey(t, "RS256", 0), genKey(t, "ES256", 0), genKey(t, "EdDSA", 0)
	srv.serve(t,
		jwk{kid: "rsa", alg: "RS256", pub: rs.pub},
		jwk{kid: "ec", pub: es.pub}, // no alg: the type implies ES256
		jwk{kid: "ed", alg: "EdDSA", pub: ed.pub},
	)
	v := mustNew(t, Options{JWKSURL: srv.URL})
	if got := strings.Join(v.Algorithms(), ","); got != "ES256,EdDSA,RS256" {
		t.Fatalf("default algorithms from the set: %s", got)
	}
	verifyOK(t, v, "RS256 by kid", signWith(t, "RS256", rs.priv, "rsa", sub))
	verifyOK(t, v, "ES256 by kid", signWith(t, "ES256", es.priv, "ec", sub))
	verifyOK(t, v, "EdDSA by kid", signWith(t, "EdDSA", ed.priv, "ed", sub))
	verifyOK(t, v, "no kid, one key of the type", signWith(t, "ES256", es.priv, "", sub))
	verifyInvalid(t, v, "kid of another key", signWith(t, "RS256", rs.priv, "ec", sub))
	verifyInvalid(t, v, "right kid, wrong key", signWith(t, "RS256", genKey(t, "RS256", 1).priv, "rsa", sub))
	verifyInvalid(t, v, "RS384 not allowed", signWith(t, "RS384", rs.priv, "rsa", sub))
}

// TestJWKSKeyPinning: a JWK serves only the alg it declares, and the type
// and curve of its key; symmetric and encryption keys never verify.
func TestJWKSKeyPinning(t *testing.T) {
	srv := newJWKSServer(t)
	rs, p256, p384 := genKey(t, "RS256", 0), genKey(t, "ES256", 0), genKey(t, "ES384", 0)
	oct := genKey(t, "HS256", 1).pub.([]byte)
	srv.serve(t,
		jwk{kid: "rsa", alg: "RS256", pub: rs.pub},
		jwk{kid: "p256", pub: p256.pub},
		jwk{kid: "p384", alg: "ES384", pub: p384.pub},
		jwk{kid: "oct", alg: "HS256", pub: oct},
		jwk{kid: "enc", pub: genKey(t, "RS256", 1).pub, use: jwkset.UseEnc},
	)
	secret := genKey(t, "HS256", 0).pub.([]byte)
	v := mustNew(t, Options{JWKSURL: srv.URL, HMACSecret: secret, Algorithms: []string{"HS256", "RS256", "RS512", "ES256", "ES384"}})
	verifyInvalid(t, v, "RS512 on an RS256 JWK", signWith(t, "RS512", rs.priv, "rsa", sub))
	verifyInvalid(t, v, "ES384 token naming a P-256 key", signWith(t, "ES384", p384.priv, "p256", sub))
	verifyInvalid(t, v, "ES256 token naming a P-384 key", signWith(t, "ES256", p256.priv, "p384", sub))
	verifyInvalid(t, v, "HS256 with the JWKS's symmetric key", signWith(t, "HS256", oct, "oct", sub))
	verifyInvalid(t, v, "encryption key", signWith(t, "RS512", genKey(t, "RS256", 1).priv, "enc", sub))
	verifyOK(t, v, "HS256 with the configured secret, any kid", signWith(t, "HS256", secret, "oct", sub))
	verifyOK(t, v, "ES384 by kid", signWith(t, "ES384", p384.priv, "p384", sub))
}

func TestJWKSKidSelection(t *testing.T) {
	srv := newJWKSServer(t)
	a, b := genKey(t, "RS256", 0), genKey(t, "RS256", 1)
	srv.serve(t, jwk{kid: "a", alg: "RS256", pub: a.pub}, jwk{kid: "b", alg: "RS256", pub: b.pub})
	v := mustNew(t, Options{JWKSURL: srv.URL})
	verifyOK(t, v, "kid a", signWith(t, "RS256", a.priv, "a", sub))
	verifyOK(t, v, "kid b", signWith(t, "RS256", b.priv, "b", sub))
	if _, err := v.VerifyConnect(signWith(t, "RS256", a.priv, "", sub)); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "no kid") {
		t.Fatalf("no kid, two candidates: %v", err)
	}

	// The PEM key serves tokens whose kid the set does not know.
	ec := genKey(t, "ES256", 0)
	withPEM := mustNew(t, Options{JWKSURL: srv.URL, PublicKeyPEM: pemOf(t, ec.pub)})
	verifyOK(t, withPEM, "unknown kid, PEM key fits", signWith(t, "ES256", ec.priv, "not-in-set", sub))
	verifyOK(t, withPEM, "no kid, PEM key the only ES256 key", signWith(t, "ES256", ec.priv, "", sub))
}

// TestJWKSKeyRotation: keys change on the server and the verifier follows
// without a restart.
func TestJWKSKeyRotation(t *testing.T) {
	srv := newJWKSServer(t)
	oldKey, newKey := genKey(t, "ES256", 0), genKey(t, "ES256", 1)
	srv.serve(t, jwk{kid: "old", alg: "ES256", pub: oldKey.pub})
	v := mustNew(t, Options{JWKSURL: srv.URL, JWKSRefreshRateLimit: time.Hour})
	oldTok := signWith(t, "ES256", oldKey.priv, "old", sub)
	newTok := signWith(t, "ES256", newKey.priv, "new", sub)
	verifyOK(t, v, "old key before rotation", oldTok)
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d requests after start, want 1", n)
	}

	srv.serve(t, jwk{kid: "new", alg: "ES256", pub: newKey.pub})
	verifyOK(t, v, "new kid, by the refresh it triggers", newTok)
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2: one refresh for the new kid", n)
	}
	verifyOK(t, v, "new kid again, from the cache", newTok)
	verifyInvalid(t, v, "old key, removed by the refresh", oldTok)
}

// TestJWKSPeriodicRefresh: a key removed from the set stops verifying once
// the periodic refresh has run, with no token asking for it.
func TestJWKSPeriodicRefresh(t *testing.T) {
	srv := newJWKSServer(t)
	a, b := genKey(t, "ES256", 0), genKey(t, "ES256", 1)
	srv.serve(t, jwk{kid: "a", alg: "ES256", pub: a.pub}, jwk{kid: "b", alg: "ES256", pub: b.pub})
	v := mustNew(t, Options{JWKSURL: srv.URL, JWKSRefreshInterval: 10 * time.Millisecond, JWKSRefreshRateLimit: time.Hour})
	aTok := signWith(t, "ES256", a.priv, "a", sub)
	verifyOK(t, v, "a before removal", aTok)
	srv.serve(t, jwk{kid: "b", alg: "ES256", pub: b.pub})
	waitFor(t, "the periodic refresh to drop key a", func() bool {
		_, err := v.VerifyConnect(aTok)
		return errors.Is(err, ErrInvalidToken)
	})
	verifyOK(t, v, "b after the refresh", signWith(t, "ES256", b.priv, "b", sub))
}

// TestJWKSUnknownKidRateLimited: tokens naming kids nobody published cannot
// make the verifier hammer the JWKS endpoint.
func TestJWKSUnknownKidRateLimited(t *testing.T) {
	srv := newJWKSServer(t)
	k := genKey(t, "ES256", 0)
	srv.serve(t, jwk{kid: "k", alg: "ES256", pub: k.pub})
	v := mustNew(t, Options{JWKSURL: srv.URL, JWKSRefreshRateLimit: time.Hour})
	attacker := genKey(t, "ES256", 1)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			tok := signWith(t, "ES256", attacker.priv, fmt.Sprintf("random-%d-%d", i, time.Now().UnixNano()), sub)
			if _, err := v.VerifyConnect(tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("unknown kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := srv.requests.Load(); n > 2 {
		t.Fatalf("%d JWKS requests for 200 unknown kids, want at most 2 (start and one refresh)", n)
	}
	verifyOK(t, v, "the real key still", signWith(t, "ES256", k.priv, "k", sub))
}

// countingHandler counts the log records at error level and keeps their
// text.
type countingHandler struct {
	mu      sync.Mutex
	records []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	h.records = append(h.records, b.String())
	h.mu.Unlock()
	return nil
}

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.records)
}

// TestJWKSOutageKeepsKeys: once started, a failing or unreachable JWKS
// endpoint leaves the last good keys in use, and each failure is logged.
func TestJWKSOutageKeepsKeys(t *testing.T) {
	srv := newJWKSServer(t)
	k := genKey(t, "ES256", 0)
	srv.serve(t, jwk{kid: "k", alg: "ES256", pub: k.pub})
	logs := &countingHandler{}
	v := mustNew(t, Options{JWKSURL: srv.URL, JWKSRefreshInterval: 10 * time.Millisecond, Logger: slog.New(logs)})
	tok := signWith(t, "ES256", k.priv, "k", sub)
	verifyOK(t, v, "before the outage", tok)

	for _, bad := range []struct {
		status int
		body   string
	}{{500, "oops"}, {200, "not json"}, {200, `{"keys":[{"kty":"EC","kid":"x","crv":"P-256","x":"AAAA","y":"AAAA"}]}`}, {200, oversizedJWKS()}} {
		srv.setResponse(bad.status, []byte(bad.body))
		before, logged := srv.requests.Load(), logs.count()
		waitFor(t, "refreshes to fail", func() bool { return srv.requests.Load() >= before+2 && logs.count() >= logged+2 })
		verifyOK(t, v, fmt.Sprintf("during a %d %.10q outage", bad.status, bad.body), tok)
	}

	srv.Close()
	logged := logs.count()
	waitFor(t, "refreshes of a closed server to fail", func() bool { return logs.count() >= logged+2 })
	verifyOK(t, v, "with the server down", tok)

	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, r := range logs.records {
		if strings.Contains(r, tok) || !strings.Contains(r, "JWK Set") {
			t.Fatalf("log record %q", r)
		}
	}
}

// TestNewFailsWithoutJWKS: a server whose key source is broken at start
// refuses to start, saying why.
func TestNewFailsWithoutJWKS(t *testing.T) {
	srv := newJWKSServer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, tc := range []struct {
		name, url  string
		status     int
		body, want string
	}{
		{"500", srv.URL, 500, "error", "fetching the JWK Set"},
		{"404", srv.URL, 404, "", "fetching the JWK Set"},
		{"not JSON", srv.URL, 200, "<html>", "fetching the JWK Set"},
		{"empty set", srv.URL, 200, `{"keys":[]}`, "no usable public signing key"},
		{"only a symmetric key", srv.URL, 200, `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, "no usable public signing key"},
		{"too large", srv.URL, 200, oversizedJWKS(), "fetching the JWK Set"},
		{"unreachable", down.URL, 0, "", "fetching the JWK Set"},
	} {
		srv.setResponse(tc.status, []byte(tc.body))
		v, err := New(Options{JWKSURL: tc.url})
		if err == nil {
			v.Close()
			t.Errorf("%s: New succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}

// TestJWKSCallerClient: a caller's client is used, and the plain-http
// opt-out works.
func TestJWKSCallerClient(t *testing.T) {
	srv := newJWKSServer(t)
	k := genKey(t, "EdDSA", 0)
	srv.serve(t, jwk{kid: "k", pub: k.pub})
	var used atomic.Bool
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Store(true)
		r.URL.Host = strings.TrimPrefix(srv.URL, "http://")
		return http.DefaultTransport.RoundTrip(r)
	})}
	v := mustNew(t, Options{JWKSURL: "http://keys.internal.example/jwks", JWKSAllowHTTP: true, HTTPClient: client})
	if !used.Load() {
		t.Fatal("the caller's client was not used")
	}
	verifyOK(t, v, "EdDSA from the set", signWith(t, "EdDSA", k.priv, "k", sub))
	v.Close()
	v.Close()
}

// oversizedJWKS is a valid JWK Set padded past the size limit.
func oversizedJWKS() string {
	set := fuzzJWKS()
	return string(set[:len(set)-1]) + strings.Repeat(" ", maxJWKSSize) + "}"
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
