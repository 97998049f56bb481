package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// maxJWKSSize bounds a JWK Set response: a set of a few keys is a few KiB.
const maxJWKSSize = 1 << 20

// jwksSource holds the keys of a JWK Set. Caching, periodic refresh and
// rate-limited refresh on an unknown kid are the keyfunc/jwkset storage's.
type jwksSource struct {
	store     jwkset.Storage
	ctx       context.Context
	cancel    context.CancelFunc
	transport *http.Transport // ours to close; nil for a caller's client
	closeOnce sync.Once
}

func newJWKSSource(o Options) (*jwksSource, error) {
	u, err := url.Parse(o.JWKSURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("auth: JWKSURL is not an http(s) URL")
	}
	where := u.Redacted()
	if u.Scheme == "http" && !o.JWKSAllowHTTP && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("auth: JWKSURL %s is plain http: keys fetched so could be forged in transit (use https, or set JWKSAllowHTTP on a trusted network)", where)
	}
	s := &jwksSource{}
	client := o.HTTPClient
	if client == nil {
		s.transport = http.DefaultTransport.(*http.Transport).Clone()
		client = &http.Client{Timeout: DefaultJWKSHTTPTimeout, Transport: s.transport}
	}
	limited := *client
	limited.Transport = limitedTransport{base: client.Transport}
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = DefaultJWKSHTTPTimeout
	}
	interval := o.JWKSRefreshInterval
	if interval <= 0 {
		interval = DefaultJWKSRefreshInterval
	}
	gap := o.JWKSRefreshRateLimit
	if gap <= 0 {
		gap = DefaultJWKSRefreshRateLimit
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	noFirstError := false
	s.ctx, s.cancel = context.WithCancel(context.Background())
	kf, err := keyfunc.NewDefaultOverrideCtx(s.ctx, []string{o.JWKSURL}, keyfunc.Override{
		Client:                    &limited,
		HTTPTimeout:               timeout,
		NoErrorReturnFirstHTTPReq: &noFirstError,
		RefreshInterval:           interval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(gap), 1),
		// A token with an unknown kid waits for the next permitted refresh
		// only if it comes within this time, and the refresh itself runs
		// within it too; otherwise the token fails at once.
		RateLimitWaitMax: timeout,
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				if s.ctx.Err() == nil {
					log.ErrorContext(ctx, "auth: refreshing the JWK Set failed; keeping the last good keys", "url", where, "error", err)
				}
			}
		},
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("auth: fetching the JWK Set from %s: %w", where, err)
	}
	s.store = kf.Storage()
	if len(s.naturalAlgs()) == 0 {
		s.close()
		return nil, fmt.Errorf("auth: the JWK Set at %s holds no usable public signing key", where)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *jwksSource) close() {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.transport != nil {
			s.transport.CloseIdleConnections()
		}
	})
}

// key returns the key of kid for a token of alg; found is false when the
// set has no such kid, even after the refresh the lookup may trigger.
func (s *jwksSource) key(kid, alg string) (key any, found bool, err error) {
	jwk, err := s.store.KeyRead(s.ctx, kid)
	if err != nil {
		return nil, false, nil
	}
	key, ok := usableKey(jwk, alg)
	if !ok {
		return nil, true, keyError("the key of this kid does not fit the algorithm")
	}
	return key, true, nil
}

// keysFor returns every key in the cached set that may verify alg.
func (s *jwksSource) keysFor(alg string) []any {
	all, err := s.store.KeyReadAll(s.ctx)
	if err != nil {
		return nil
	}
	var keys []any
	for _, jwk := range all {
		if key, ok := usableKey(jwk, alg); ok {
			keys = append(keys, key)
		}
	}
	return keys
}

// naturalAlgs are the algorithms the cached set's keys are for: the alg a
// key declares, or the one its type implies.
func (s *jwksSource) naturalAlgs() []string {
	all, err := s.store.KeyReadAll(s.ctx)
	if err != nil {
		return nil
	}
	var algs []string
	for _, jwk := range all {
		key, ok := publicKey(jwk)
		if !ok {
			continue
		}
		alg := string(jwk.Marshal().ALG)
		switch {
		case alg == "":
			alg = naturalAlg(key)
		case alg == "Ed25519":
			alg = "EdDSA"
		}
		if keyFits(key, alg) {
			algs = append(algs, alg)
		}
	}
	return algs
}

// publicKey is the public part of a signing JWK; symmetric keys and keys
// meant for encryption are refused.
func publicKey(jwk jwkset.JWK) (any, bool) {
	if jwk.Marshal().USE == jwkset.UseEnc {
		return nil, false
	}
	key := jwk.Key()
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public()
	}
	_, ok := keyFamily(key)
	return key, ok
}

// usableKey returns jwk's key if it may verify alg: right type and curve,
// and alg equal to the one the JWK declares, if it declares one.
func usableKey(jwk jwkset.JWK, alg string) (any, bool) {
	key, ok := publicKey(jwk)
	if !ok || !keyFits(key, alg) {
		return nil, false
	}
	switch declared := string(jwk.Marshal().ALG); declared {
	case "", alg:
		return key, true
	case "Ed25519":
		return key, alg == "EdDSA"
	}
	return nil, false
}

// limitedTransport caps response bodies so a hostile or broken endpoint
// cannot make the server read without end.
type limitedTransport struct{ base http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxJWKSSize}
	return resp, nil
}

var errJWKSTooLarge = fmt.Errorf("auth: JWK Set response over %d bytes", maxJWKSSize)

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errJWKSTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
