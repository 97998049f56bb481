package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIssuerAudience(t *testing.T) {
	secret := genKey(t, "HS256", 0).pub.([]byte)
	strict := mustNew(t, Options{HMACSecret: secret, Issuer: "https://issuer.example", Audience: "herald"})
	lax := mustNew(t, Options{HMACSecret: secret})
	cases := []struct {
		name       string
		claims     map[string]any
		strictOK   bool
		wantReason string
	}{
		{"both right", map[string]any{"iss": "https://issuer.example", "aud": "herald"}, true, ""},
		{"aud list holding ours", map[string]any{"iss": "https://issuer.example", "aud": []string{"other", "herald"}}, true, ""},
		{"wrong iss", map[string]any{"iss": "https://evil.example", "aud": "herald"}, false, "iss"},
		{"missing iss", map[string]any{"aud": "herald"}, false, "iss"},
		{"wrong aud", map[string]any{"iss": "https://issuer.example", "aud": "other"}, false, "aud"},
		{"missing aud", map[string]any{"iss": "https://issuer.example"}, false, "aud"},
		{"aud list without ours", map[string]any{"iss": "https://issuer.example", "aud": []string{"a", "b"}}, false, "aud"},
		{"neither", map[string]any{}, false, "iss"},
	}
	for _, tc := range cases {
		tc.claims["sub"] = "u"
		tok := signWith(t, "HS256", secret, "", tc.claims)
		_, err := strict.VerifyConnect(tok)
		switch {
		case tc.strictOK && err != nil:
			t.Errorf("%s: configured: %v", tc.name, err)
		case !tc.strictOK && (!errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tc.wantReason)):
			t.Errorf("%s: configured: %v, want invalid naming %s", tc.name, err, tc.wantReason)
		}
		if _, err := lax.VerifyConnect(tok); err != nil {
			t.Errorf("%s: not configured: %v", tc.name, err)
		}
	}
}

// TestTimeClaims pins the clock and checks exp, nbf and iat on each side of
// the leeway.
func TestTimeClaims(t *testing.T) {
	secret := genKey(t, "HS256", 0).pub.([]byte)
	now := time.Unix(1_800_000_000, 0)
	const leeway = 30 * time.Second
	v := mustNew(t, Options{HMACSecret: secret, Leeway: leeway, Now: func() time.Time { return now }})
	noLeeway := mustNew(t, Options{HMACSecret: secret, Now: func() time.Time { return now }})
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	cases := []struct {
		name       string
		claims     map[string]any
		want       error // with the leeway
		wantStrict error // without it
	}{
		{"exp ahead", map[string]any{"exp": at(time.Minute)}, nil, nil},
		{"expired by less than the leeway", map[string]any{"exp": at(-10 * time.Second)}, nil, ErrTokenExpired},
		{"expired beyond the leeway", map[string]any{"exp": at(-time.Minute)}, ErrTokenExpired, ErrTokenExpired},
		{"exp exactly now", map[string]any{"exp": at(0)}, nil, ErrTokenExpired},
		{"nbf within the leeway", map[string]any{"nbf": at(10 * time.Second)}, nil, ErrInvalidToken},
		{"nbf beyond the leeway", map[string]any{"nbf": at(time.Minute)}, ErrInvalidToken, ErrInvalidToken},
		{"nbf past", map[string]any{"nbf": at(-time.Minute)}, nil, nil},
		{"iat within the leeway", map[string]any{"iat": at(10 * time.Second)}, nil, ErrInvalidToken},
		{"iat beyond the leeway", map[string]any{"iat": at(time.Minute)}, ErrInvalidToken, ErrInvalidToken},
		{"fractional exp", map[string]any{"exp": float64(at(time.Minute)) + 0.5}, nil, nil},
	}
	for _, tc := range cases {
		tc.claims["sub"] = "u"
		tok := signWith(t, "HS256", secret, "", tc.claims)
		if _, err := v.VerifyConnect(tok); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s, leeway: %v, want %v", tc.name, err, tc.want)
		}
		if _, err := noLeeway.VerifyConnect(tok); !errors.Is(err, tc.wantStrict) || (tc.wantStrict == nil && err != nil) {
			t.Errorf("%s, no leeway: %v, want %v", tc.name, err, tc.wantStrict)
		}
	}
}

// TestExpiredOnlyWhenOtherwiseValid: ErrTokenExpired invites the client to
// refresh, so it is never the answer for a forged or otherwise bad token.
func TestExpiredOnlyWhenOtherwiseValid(t *testing.T) {
	secret := genKey(t, "HS256", 0).pub.([]byte)
	other := genKey(t, "HS256", 1).pub.([]byte)
	v := mustNew(t, Options{HMACSecret: secret, Issuer: "iss"})
	past := time.Now().Add(-time.Hour).Unix()
	cases := map[string]string{
		"forged":      signWith(t, "HS256", other, "", map[string]any{"sub": "u", "iss": "iss", "exp": past}),
		"wrong iss":   signWith(t, "HS256", secret, "", map[string]any{"sub": "u", "iss": "x", "exp": past}),
		"no sub":      signWith(t, "HS256", secret, "", map[string]any{"iss": "iss", "exp": past}),
		"not yet":     signWith(t, "HS256", secret, "", map[string]any{"sub": "u", "iss": "iss", "exp": past, "nbf": time.Now().Add(time.Hour).Unix()}),
		"not allowed": signWith(t, "HS512", secret, "", map[string]any{"sub": "u", "iss": "iss", "exp": past}),
	}
	for name, tok := range cases {
		if _, err := v.VerifyConnect(tok); !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenExpired) {
			t.Errorf("%s: %v, want only ErrInvalidToken", name, err)
		}
	}
	good := signWith(t, "HS256", secret, "", map[string]any{"sub": "u", "iss": "iss", "exp": past})
	if _, err := v.VerifyConnect(good); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired: %v", err)
	}
}

// TestMalformedTokens: each fails as invalid, names the failing part, and
// echoes nothing from the token.
func TestMalformedTokens(t *testing.T) {
	secret := genKey(t, "HS256", 0).pub.([]byte)
	v := mustNew(t, Options{HMACSecret: secret})
	valid := signWith(t, "HS256", secret, "", map[string]any{"sub": "u"})
	parts := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	withClaims := func(json string) string { return parts[0] + "." + b64([]byte(json)) + "." + parts[2] }
	signed := func(claims map[string]any) string { return signWith(t, "HS256", secret, "", claims) }
	cases := []struct {
		name, token, reason string
	}{
		{"empty", "", "segments"},
		{"one segment", "abc", "segments"},
		{"two segments", parts[0] + "." + parts[1], "segments"},
		{"four segments", valid + ".x", "segments"},
		{"bad base64 header", "!!!." + parts[1] + "." + parts[2], "header"},
		{"header not JSON", b64([]byte("nope")) + "." + parts[1] + "." + parts[2], "header"},
		{"header without alg", b64([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], "alg"},
		{"unknown alg", b64([]byte(`{"alg":"XX999"}`)) + "." + parts[1] + "." + parts[2], "alg"},
		{"bad base64 claims", parts[0] + ".@@@." + parts[2], "claims"},
		{"claims not JSON", withClaims("sub=u"), "claims"},
		{"claims an array", withClaims(`["sub"]`), "claims"},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".***", "signature"},
		{"tampered claims", withClaims(`{"sub":"admin"}`), "bad signature"},
		{"sub a number", signed(map[string]any{"sub": 5}), "claims"},
		{"exp a string", signed(map[string]any{"sub": "u", "exp": "x"}), "claims"},
		{"exp secret-looking string", signed(map[string]any{"sub": "u", "exp": "SECRETVALUE123"}), "claims"},
		{"nbf an object", signed(map[string]any{"sub": "u", "nbf": map[string]any{}}), "claims"},
		{"aud a number", signed(map[string]any{"sub": "u", "aud": 5}), "claims"},
		{"channels not a list", signed(map[string]any{"sub": "u", "channels": "chat:*"}), "claims"},
		{"subs of numbers", signed(map[string]any{"sub": "u", "subs": []int{1}}), "claims"},
		{"empty sub", signed(map[string]any{"sub": ""}), "sub"},
		{"huge", signed(map[string]any{"sub": "u", "info": strings.Repeat("x", 20_000)}), "too large"},
	}
	for _, tc := range cases {
		_, err := v.VerifyConnect(tc.token)
		if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenExpired) {
			t.Errorf("%s: %v, want ErrInvalidToken", tc.name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.reason) {
			t.Errorf("%s: %q does not name %q", tc.name, msg, tc.reason)
		}
		if strings.Contains(msg, "SECRETVALUE") || (len(tc.token) > 3 && strings.Contains(msg, tc.token)) {
			t.Errorf("%s: error echoes the token: %q", tc.name, msg)
		}
		for _, p := range strings.Split(tc.token, ".") {
			if len(p) > 8 && strings.Contains(msg, p) {
				t.Errorf("%s: error echoes a token segment: %q", tc.name, msg)
			}
		}
	}
}
