// Package auth verifies the JWTs (RFC 7519) that Herald accepts: connection
// tokens, which say who a client is and what it may do, and channel tokens,
// which grant one user one channel.
//
// A Verifier pins its algorithm: a token signed with any other algorithm,
// alg "none" included, is invalid. Errors never contain the token.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is returned for a token that is malformed, badly signed,
// signed with another algorithm, has claims of the wrong type, or is of the
// wrong kind (a channel token used to connect, or the reverse).
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrTokenExpired is returned for a well-formed, well-signed token whose exp
// has passed.
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
	User      string
	Channel   string
	ExpiresAt int64
}

// Verifier checks tokens against one key and algorithm. It is safe for
// concurrent use.
type Verifier struct {
	key    any
	method string
	// Leeway tolerates clock skew when checking exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewHMACVerifier returns a Verifier for HS256 tokens signed with secret.
func NewHMACVerifier(secret []byte) *Verifier {
	return &Verifier{key: secret, method: jwt.SigningMethodHS256.Alg()}
}

// tokenClaims mirrors the claims Herald reads, with types that reject
// malformed values at decode time.
type tokenClaims struct {
	jwt.RegisteredClaims
	Info     json.RawMessage `json:"info,omitempty"`
	Channels []string        `json:"channels,omitempty"`
	Subs     []string        `json:"subs,omitempty"`
	Channel  *string         `json:"channel,omitempty"`
}

func (v *Verifier) parse(token string) (*tokenClaims, error) {
	var claims tokenClaims
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{v.method}), jwt.WithLeeway(v.Leeway), jwt.WithIssuedAt()}
	if v.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.Now))
	}
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.key, nil }, opts...)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	default:
		// The library's message names the failing part, never the token.
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.Subject == "" {
		return nil, fmt.Errorf("%w: missing sub", ErrInvalidToken)
	}
	return &claims, nil
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
