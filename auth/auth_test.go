package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("auth-test-secret-0123456789")

func sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	tok, err := SignHMAC(secret, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyConnect(t *testing.T) {
	v := NewHMACVerifier(secret)
	exp := time.Now().Add(time.Hour).Unix()
	c, err := v.VerifyConnect(sign(t, map[string]any{
		"sub": "alice", "exp": exp, "iat": time.Now().Unix(),
		"info": map[string]any{"name": "Alice"}, "channels": []string{"chat:*"}, "subs": []string{"news"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.User != "alice" || c.ExpiresAt != exp || string(c.Info) != `{"name":"Alice"}` || c.Channels[0] != "chat:*" || c.Subs[0] != "news" {
		t.Fatalf("claims %+v", c)
	}
	c, err = v.VerifyConnect(sign(t, map[string]any{"sub": "bob"}))
	if err != nil || c.ExpiresAt != 0 || c.Info != nil {
		t.Fatalf("minimal token: %+v %v", c, err)
	}
}

func TestVerifyConnectRejects(t *testing.T) {
	v := NewHMACVerifier(secret)
	other, _ := SignHMAC([]byte("another-secret-0123456789"), map[string]any{"sub": "a"})
	hs384, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, jwt.MapClaims{"sub": "a"}).SignedString(secret)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es256, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "a"}).SignedString(ecKey)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "a"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	valid := sign(t, map[string]any{"sub": "a"})
	cases := map[string]struct {
		token string
		want  error
	}{
		"expired":           {sign(t, map[string]any{"sub": "a", "exp": time.Now().Add(-time.Minute).Unix()}), ErrTokenExpired},
		"other secret":      {other, ErrInvalidToken},
		"HS384":             {hs384, ErrInvalidToken},
		"ES256":             {es256, ErrInvalidToken},
		"alg none":          {none, ErrInvalidToken},
		"malformed":         {"a.b.c", ErrInvalidToken},
		"empty":             {"", ErrInvalidToken},
		"tampered payload":  {valid[:strings.Index(valid, ".")+1] + "eyJzdWIiOiJldmUifQ" + valid[strings.LastIndex(valid, "."):], ErrInvalidToken},
		"no sub":            {sign(t, map[string]any{"exp": time.Now().Add(time.Hour).Unix()}), ErrInvalidToken},
		"sub not string":    {sign(t, map[string]any{"sub": 5}), ErrInvalidToken},
		"channels not list": {sign(t, map[string]any{"sub": "a", "channels": "chat:*"}), ErrInvalidToken},
		"channel token":     {sign(t, map[string]any{"sub": "a", "channel": "c"}), ErrInvalidToken},
		"iat in future":     {sign(t, map[string]any{"sub": "a", "iat": time.Now().Add(time.Hour).Unix()}), ErrInvalidToken},
	}
	for name, tc := range cases {
		_, err := v.VerifyConnect(tc.token)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if err != nil && tc.token != "" && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: error text contains the token", name)
		}
	}
}

func TestLeewayAndClock(t *testing.T) {
	exp := time.Now().Add(time.Minute)
	tok := sign(t, map[string]any{"sub": "a", "exp": exp.Unix()})
	v := NewHMACVerifier(secret)
	v.Now = func() time.Time { return exp.Add(5 * time.Second) }
	if _, err := v.VerifyConnect(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("after exp: %v", err)
	}
	v.Leeway = 10 * time.Second
	if _, err := v.VerifyConnect(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
}

func TestVerifyChannel(t *testing.T) {
	v := NewHMACVerifier(secret)
	c, err := v.VerifyChannel(sign(t, map[string]any{"sub": "a", "channel": "secret:x", "exp": time.Now().Add(time.Hour).Unix()}))
	if err != nil || c.User != "a" || c.Channel != "secret:x" || c.ExpiresAt == 0 {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := v.VerifyChannel(sign(t, map[string]any{"sub": "a"})); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("connection token as channel token: %v", err)
	}
	if _, err := v.VerifyChannel(sign(t, map[string]any{"sub": "a", "channel": "x", "exp": time.Now().Add(-time.Second).Unix()})); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired channel token: %v", err)
	}
}

func TestMatchChannel(t *testing.T) {
	cases := []struct {
		patterns []string
		channel  string
		want     bool
	}{
		{[]string{"chat:*"}, "chat:x", true},
		{[]string{"chat:*"}, "chat:", true},
		{[]string{"chat:*"}, "chatx", false},
		{[]string{"news"}, "news", true},
		{[]string{"news"}, "news2", false},
		{[]string{"*"}, "anything", true},
		{nil, "x", false},
		{[]string{"a", "b:*"}, "b:1", true},
	}
	for _, tc := range cases {
		if got := MatchChannel(tc.patterns, tc.channel); got != tc.want {
			t.Errorf("MatchChannel(%v, %q) = %v", tc.patterns, tc.channel, got)
		}
	}
}

func FuzzVerifyConnect(f *testing.F) {
	valid, _ := SignHMAC(secret, map[string]any{"sub": "a", "info": map[string]any{"x": []int{1}}})
	for _, s := range []string{valid, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", valid + "x", strings.Repeat(".", 100)} {
		f.Add(s)
	}
	v := NewHMACVerifier(secret)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.VerifyConnect(token)
		if err == nil && c.User == "" {
			t.Fatal("accepted a token without a user")
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
