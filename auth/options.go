package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Options configure a Verifier built by New. At least one key source
// (HMACSecret, PublicKeyPEM, JWKSURL) is required; any combination works.
type Options struct {
	// HMACSecret verifies HS256, HS384 and HS512 tokens. Empty means none.
	HMACSecret []byte
	// PublicKeyPEM is one public key in PEM ("PUBLIC KEY", "RSA PUBLIC KEY"
	// or a "CERTIFICATE" whose key is used): RSA of 2048 bits or more, ECDSA
	// P-256 or P-384, or Ed25519. Private keys are refused. Empty means none.
	PublicKeyPEM []byte
	// JWKSURL is a JWK Set endpoint whose public keys verify tokens. It must
	// be https unless it is on a loopback address or JWKSAllowHTTP is set.
	// Empty means none.
	JWKSURL string
	// JWKSAllowHTTP permits a plain-http JWKSURL on a non-loopback host,
	// for a trusted private network. Default false.
	JWKSAllowHTTP bool

	// Algorithms is the allow-list: any of HS256, HS384, HS512, RS256,
	// RS384, RS512, ES256, ES384, EdDSA. Empty means HS256 when there is an
	// HMAC secret, plus RS256, ES256, ES384 or EdDSA for the PEM key's type,
	// plus the algs the JWK Set's keys declare (or imply by type) at the
	// first fetch.
	Algorithms []string

	// Issuer, when set, must equal the token's iss. Default: not checked.
	Issuer string
	// Audience, when set, must be one of the token's aud. Default: not
	// checked.
	Audience string
	// Leeway tolerates clock skew when checking exp, nbf and iat. Default 0.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// JWKSRefreshInterval is how often the JWK Set is fetched again.
	// Default 1h.
	JWKSRefreshInterval time.Duration
	// JWKSRefreshRateLimit is the least time between refreshes triggered by
	// tokens naming an unknown kid. Default 5s. Such a token waits for the
	// next permitted refresh if it comes within the HTTP timeout, and fails
	// at once otherwise, so made-up kids cannot flood the endpoint.
	JWKSRefreshRateLimit time.Duration
	// HTTPClient fetches the JWK Set. Default: a client with a 10s timeout.
	// Responses over 1 MiB are refused either way.
	HTTPClient *http.Client
	// Logger receives failed background refreshes of the JWK Set. Default:
	// discard.
	Logger *slog.Logger
}

// Defaults for the zero values of Options.
const (
	DefaultJWKSRefreshInterval  = time.Hour
	DefaultJWKSRefreshRateLimit = 5 * time.Second
	DefaultJWKSHTTPTimeout      = 10 * time.Second
)

// New builds a Verifier from o. With a JWKSURL it fetches the JWK Set once
// and fails if it cannot, or if the set holds no usable key, so that a
// misconfigured server does not start; the Verifier must then be Closed.
func New(o Options) (*Verifier, error) {
	for _, a := range o.Algorithms {
		if _, ok := algFamilies[a]; !ok {
			return nil, fmt.Errorf("auth: unknown algorithm %q (want one of %v)", a, algNames)
		}
	}
	if len(o.HMACSecret) == 0 && len(o.PublicKeyPEM) == 0 && o.JWKSURL == "" {
		return nil, errors.New("auth: no key configured (HMAC secret, public key PEM or JWKS URL)")
	}
	v := &Verifier{issuer: o.Issuer, audience: o.Audience, Leeway: o.Leeway, Now: o.Now}
	var natural []string
	if len(o.HMACSecret) > 0 {
		if looksLikePEM(o.HMACSecret) {
			return nil, errors.New("auth: the HMAC secret is a PEM block; a public key must be given as PublicKeyPEM")
		}
		v.hmac = slices.Clone(o.HMACSecret)
		natural = append(natural, "HS256")
	}
	if len(o.PublicKeyPEM) > 0 {
		key, err := parsePublicKeyPEM(o.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		v.pem = key
		natural = append(natural, naturalAlg(key))
	}
	if o.JWKSURL != "" {
		src, err := newJWKSSource(o)
		if err != nil {
			return nil, err
		}
		v.jwks = src
		natural = append(natural, src.naturalAlgs()...)
	}
	v.algs = slices.Clone(o.Algorithms)
	if len(v.algs) == 0 {
		v.algs = natural
	}
	slices.Sort(v.algs)
	v.algs = slices.Compact(v.algs)
	if err := v.checkAlgsHaveKeys(); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// checkAlgsHaveKeys refuses an allow-list naming an algorithm no configured
// key can verify: it is a configuration mistake, and for HS* it is the
// shape of the public-key-as-HMAC-secret confusion.
func (v *Verifier) checkAlgsHaveKeys() error {
	if len(v.algs) == 0 {
		return errors.New("auth: no usable algorithm: set Algorithms")
	}
	for _, a := range v.algs {
		switch fam := algFamilies[a]; {
		case fam == familyHMAC && v.hmac == nil:
			return fmt.Errorf("auth: algorithm %s needs an HMAC secret", a)
		case fam != familyHMAC && v.jwks == nil && (v.pem == nil || !keyFits(v.pem, a)):
			return fmt.Errorf("auth: algorithm %s allowed but no configured public key fits it", a)
		}
	}
	return nil
}

// Algorithms returns the allow-list in force, sorted.
func (v *Verifier) Algorithms() []string {
	return slices.Clone(v.algs)
}
