package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is returned for a token that is malformed, badly signed,
// signed with another algorithm, has claims of the wrong type, or is of the
// wrong kind (a channel token used to connect, or the reverse).
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrTokenExpired is returned for a well-formed, well-signed, otherwise valid
// token whose exp has passed by more than the leeway.
var ErrTokenExpired = errors.New("auth: token expired")

// ConnectClaims are what a connection token grants.
type ConnectClaims struct {
	// User is the sub claim: the user id, never empty in a valid token.
	User string
	// ExpiresAt is the exp claim in unix seconds, 0 when absent.
	ExpiresAt int64
	// Info is the info claim, any JSON, shown in presence.
	Info json.RawMessage
	// Channels are patterns (exact names or prefixes ending in "*") the user
	// may subscribe to without a channel token.
	Channels []string
	// Subs are channels to subscribe server-side on connect.
	Subs []string
}

// ChannelClaims are what a channel token grants.
type ChannelClaims struct {
	// User is the sub claim, which must equal the connection's user.
	User string
	// Channel is the one channel the token grants.
	Channel string
	// ExpiresAt is the exp claim in unix seconds, 0 when absent.
	ExpiresAt int64
}

// Verifier checks tokens against the keys and algorithms it was built
// with (see the package doc). It is safe for concurrent use.
type Verifier struct {
	algs     []string
	hmac     []byte
	pem      any
	jwks     *jwksSource
	issuer   string
	audience string

	// Leeway tolerates clock skew when checking exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewHMACVerifier returns a Verifier for HS256 tokens signed with secret.
func NewHMACVerifier(secret []byte) *Verifier {
	return &Verifier{hmac: secret, algs: []string{jwt.SigningMethodHS256.Alg()}}
}

// Close stops the JWK Set's background refreshing. It is safe to call more
// than once, and on a Verifier without a JWK Set.
func (v *Verifier) Close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// maxTokenSize bounds the work one token can cause; real tokens are far
// smaller.
const maxTokenSize = 16 << 10

// tokenClaims mirrors the claims Herald reads, with types that reject
// malformed values at decode time.
type tokenClaims struct {
	jwt.RegisteredClaims
	Info     json.RawMessage `json:"info,omitempty"`
	Channels []string        `json:"channels,omitempty"`
	Subs     []string        `json:"subs,omitempty"`
	Channel  *string         `json:"channel,omitempty"`
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}

func (v *Verifier) parse(token string) (*tokenClaims, error) {
	if len(token) > maxTokenSize {
		return nil, invalid("token too large")
	}
	var claims tokenClaims
	// Claims are checked below, after the signature, so that only a
	// well-signed token can ever be reported as expired.
	p := jwt.NewParser(jwt.WithValidMethods(v.algs), jwt.WithoutClaimsValidation())
	if _, err := p.ParseWithClaims(token, &claims, v.keyFor); err != nil {
		return nil, invalid(parseReason(err))
	}
	if err := v.checkClaims(&claims); err != nil {
		return nil, err
	}
	return &claims, nil
}

// checkClaims applies the time, issuer and audience rules. Every other
// failure takes precedence over expiry.
func (v *Verifier) checkClaims(c *tokenClaims) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	switch {
	case c.Subject == "":
		return invalid("missing sub")
	case c.NotBefore != nil && now.Add(v.Leeway).Before(c.NotBefore.Time):
		return invalid("nbf in the future")
	case c.IssuedAt != nil && now.Add(v.Leeway).Before(c.IssuedAt.Time):
		return invalid("iat in the future")
	case v.issuer != "" && c.Issuer != v.issuer:
		return invalid("wrong or missing iss")
	case v.audience != "" && !slices.Contains(c.Audience, v.audience):
		return invalid("wrong or missing aud")
	case c.ExpiresAt != nil && !now.Before(c.ExpiresAt.Add(v.Leeway)):
		return ErrTokenExpired
	}
	return nil
}

var malformedReasons = map[string]string{
	"token contains an invalid number of segments": "malformed: wrong number of segments",
	"could not base64 decode header":               "malformed header",
	"could not JSON decode header":                 "malformed header",
	"could not base64 decode claim":                "malformed claims",
	"could not JSON decode claim":                  "malformed claims",
	"could not base64 decode signature":            "malformed signature",
}

// parseReason names the failing part of a token the parser refused, without
// echoing anything from the token (the library's inner errors can quote
// claim values, and its alg message quotes the header).
func parseReason(err error) string {
	var ke keyError
	switch {
	case errors.As(err, &ke):
		return string(ke)
	case errors.Is(err, jwt.ErrTokenMalformed):
		// The library's own message comes first; what follows it may quote
		// the token, so only known prefixes are used.
		msg := strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ")
		for prefix, reason := range malformedReasons {
			if strings.HasPrefix(msg, prefix) {
				return reason
			}
		}
		return "malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unsupported or missing alg"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.HasPrefix(err.Error(), jwt.ErrTokenSignatureInvalid.Error()+": signing method"):
		return "algorithm not allowed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	}
	return "rejected"
}

// VerifyConnect checks a connection token.
func (v *Verifier) VerifyConnect(token string) (*ConnectClaims, error) {
	c, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if c.Channel != nil {
		return nil, fmt.Errorf("%w: a channel token cannot connect", ErrInvalidToken)
	}
	out := &ConnectClaims{User: c.Subject, Info: c.Info, Channels: c.Channels, Subs: c.Subs}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Unix()
	}
	if string(out.Info) == "null" {
		out.Info = nil
	}
	return out, nil
}

// VerifyChannel checks a channel token.
func (v *Verifier) VerifyChannel(token string) (*ChannelClaims, error) {
	c, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if c.Channel == nil || *c.Channel == "" {
		return nil, fmt.Errorf("%w: not a channel token", ErrInvalidToken)
	}
	out := &ChannelClaims{User: c.Subject, Channel: *c.Channel}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Unix()
	}
	return out, nil
}

// SignHMAC signs claims as an HS256 token: for tests, the token command, and
// backends written in Go.
func SignHMAC(secret []byte, claims map[string]any) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
}

// MatchChannel reports whether channel matches one of patterns: an exact
// name, or a prefix followed by "*" ("chat:*"; "*" alone matches all).
func MatchChannel(patterns []string, channel string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(channel, prefix) {
				return true
			}
		} else if p == channel {
			return true
		}
	}
	return false
}
