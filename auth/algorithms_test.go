package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// optionsFor configures a verifier holding the first test key of alg's kind.
func optionsFor(t *testing.T, alg string) Options {
	k := genKey(t, alg, 0)
	if algFamilies[alg] == familyHMAC {
		return Options{HMACSecret: k.pub.([]byte), Algorithms: []string{alg}}
	}
	return Options{PublicKeyPEM: pemOf(t, k.pub), Algorithms: []string{alg}}
}

func TestEveryAlgorithm(t *testing.T) {
	for _, alg := range algNames {
		t.Run(alg, func(t *testing.T) {
			v := mustNew(t, optionsFor(t, alg))
			good := signWith(t, alg, genKey(t, alg, 0).priv, "", map[string]any{"sub": "alice"})
			if c, err := v.VerifyConnect(good); err != nil || c.User != "alice" {
				t.Fatalf("right key: %+v %v", c, err)
			}
			bad := signWith(t, alg, genKey(t, alg, 1).priv, "", map[string]any{"sub": "alice"})
			if _, err := v.VerifyConnect(bad); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "bad signature") {
				t.Fatalf("wrong key: %v", err)
			}
		})
	}
}

func TestDefaultAlgorithms(t *testing.T) {
	secret := genKey(t, "HS256", 0).pub.([]byte)
	cases := []struct {
		name string
		o    Options
		want []string
	}{
		{"HMAC", Options{HMACSecret: secret}, []string{"HS256"}},
		{"RSA", Options{PublicKeyPEM: pemOf(t, genKey(t, "RS256", 0).pub)}, []string{"RS256"}},
		{"P-256", Options{PublicKeyPEM: pemOf(t, genKey(t, "ES256", 0).pub)}, []string{"ES256"}},
		{"P-384", Options{PublicKeyPEM: pemOf(t, genKey(t, "ES384", 0).pub)}, []string{"ES384"}},
		{"Ed25519", Options{PublicKeyPEM: pemOf(t, genKey(t, "EdDSA", 0).pub)}, []string{"EdDSA"}},
		{"HMAC and RSA", Options{HMACSecret: secret, PublicKeyPEM: pemOf(t, genKey(t, "RS256", 0).pub)}, []string{"HS256", "RS256"}},
	}
	for _, tc := range cases {
		v := mustNew(t, tc.o)
		if got := v.Algorithms(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAlgorithmPinning: a token is checked only under the allow-list, and
// only against a key of its algorithm's type and curve.
func TestAlgorithmPinning(t *testing.T) {
	claims := map[string]any{"sub": "a"}
	rsaKey := genKey(t, "RS256", 0)
	p256 := genKey(t, "ES256", 0)
	p384 := genKey(t, "ES384", 0)
	secret := genKey(t, "HS256", 0).pub.([]byte)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noneKid := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims))
	noneKid.Header["kid"] = "k"
	noneWithKid, _ := noneKid.SignedString(jwt.UnsafeAllowNoneSignatureType)

	cases := []struct {
		name  string
		o     Options
		token string
	}{
		{"RS384 under the RSA default", Options{PublicKeyPEM: pemOf(t, rsaKey.pub)}, signWith(t, "RS384", rsaKey.priv, "", claims)},
		{"HS384 under the HMAC default", Options{HMACSecret: secret}, signWith(t, "HS384", secret, "", claims)},
		{"ES256 against an ES384-only list", Options{PublicKeyPEM: pemOf(t, p384.pub), Algorithms: []string{"ES384"}}, signWith(t, "ES256", p256.priv, "", claims)},
		{"alg none, HMAC", Options{HMACSecret: secret}, none},
		{"alg none, RSA", Options{PublicKeyPEM: pemOf(t, rsaKey.pub)}, none},
		{"alg none with kid", Options{HMACSecret: secret, PublicKeyPEM: pemOf(t, rsaKey.pub)}, noneWithKid},
		{"alg none unsigned with a signature", Options{HMACSecret: secret}, none + "c2ln"},
		{"ES256 token on an HMAC verifier", Options{HMACSecret: secret}, signWith(t, "ES256", p256.priv, "", claims)},
	}
	for _, tc := range cases {
		v := mustNew(t, tc.o)
		_, err := v.VerifyConnect(tc.token)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", tc.name, err)
		}
	}
}

// TestHMACPublicKeyConfusion is the classic attack: sign an HS256 token
// using the PEM text of the server's RSA public key as the HMAC secret.
func TestHMACPublicKeyConfusion(t *testing.T) {
	rsaKey := genKey(t, "RS256", 0)
	pemBytes := pemOf(t, rsaKey.pub)
	forged := signWith(t, "HS256", pemBytes, "", map[string]any{"sub": "admin"})
	secret := genKey(t, "HS256", 0).pub.([]byte)

	for name, o := range map[string]Options{
		"RSA key only":                {PublicKeyPEM: pemBytes},
		"RSA key only, RS256 listed":  {PublicKeyPEM: pemBytes, Algorithms: []string{"RS256"}},
		"RSA key and an HMAC secret":  {PublicKeyPEM: pemBytes, HMACSecret: secret},
		"both, HS256 and RS256 named": {PublicKeyPEM: pemBytes, HMACSecret: secret, Algorithms: []string{"HS256", "RS256"}},
	} {
		v := mustNew(t, o)
		if _, err := v.VerifyConnect(forged); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: forged token: %v", name, err)
		}
		legit := signWith(t, "RS256", rsaKey.priv, "", map[string]any{"sub": "admin"})
		if _, err := v.VerifyConnect(legit); err != nil {
			t.Errorf("%s: real RS256 token: %v", name, err)
		}
	}
	// Allowing HS256 with only a public key, or passing the public key as the
	// HMAC secret, is refused when the verifier is built.
	if _, err := New(Options{PublicKeyPEM: pemBytes, Algorithms: []string{"HS256", "RS256"}}); err == nil {
		t.Error("New accepted HS256 with no HMAC secret")
	}
	if _, err := New(Options{HMACSecret: pemBytes}); err == nil {
		t.Error("New accepted a PEM public key as the HMAC secret")
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	secret := genKey(t, "HS256", 0).pub.([]byte)
	rsaPEM := pemOf(t, genKey(t, "RS256", 0).pub)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})

	cases := map[string]struct {
		o    Options
		want string
	}{
		"no key":                  {Options{}, "no key configured"},
		"unknown algorithm":       {Options{HMACSecret: secret, Algorithms: []string{"PS256"}}, `unknown algorithm "PS256"`},
		"none":                    {Options{HMACSecret: secret, Algorithms: []string{"none"}}, `unknown algorithm "none"`},
		"lower case":              {Options{HMACSecret: secret, Algorithms: []string{"hs256"}}, `unknown algorithm "hs256"`},
		"HS without secret":       {Options{PublicKeyPEM: rsaPEM, Algorithms: []string{"HS512"}}, "needs an HMAC secret"},
		"ES256 with an RSA key":   {Options{PublicKeyPEM: rsaPEM, Algorithms: []string{"ES256"}}, "no configured public key fits"},
		"ES384 with a P-256 key":  {Options{PublicKeyPEM: pemOf(t, genKey(t, "ES256", 0).pub), Algorithms: []string{"ES256", "ES384"}}, "no configured public key fits"},
		"not PEM":                 {Options{PublicKeyPEM: []byte("hello")}, "no PEM block"},
		"private key":             {Options{PublicKeyPEM: privPEM}, `"PRIVATE KEY" block`},
		"RSA 1024":                {Options{PublicKeyPEM: pemOf(t, &small.PublicKey)}, "unsupported key"},
		"P-521":                   {Options{PublicKeyPEM: pemOf(t, &p521.PublicKey)}, "unsupported key"},
		"two keys":                {Options{PublicKeyPEM: append(slices.Clone(rsaPEM), rsaPEM...)}, "more than one PEM block"},
		"garbage in a PEM block":  {Options{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})}, "PublicKeyPEM:"},
		"JWKS URL not http":       {Options{JWKSURL: "ftp://keys.example/jwks"}, "not an http(s) URL"},
		"JWKS URL plain http":     {Options{JWKSURL: "http://keys.example/jwks"}, "plain http"},
		"JWKS URL without a host": {Options{JWKSURL: "/jwks"}, "not an http(s) URL"},
	}
	for name, tc := range cases {
		v, err := New(tc.o)
		if err == nil {
			v.Close()
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to mention %q", name, err, tc.want)
		}
	}
}

// TestPEMForms: the key may come as PKIX, PKCS#1 or inside a certificate.
func TestPEMForms(t *testing.T) {
	k := genKey(t, "RS256", 0)
	pub := k.pub.(*rsa.PublicKey)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	tmpl := &x509.Certificate{SerialNumber: bigOne()}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	tok := signWith(t, "RS256", k.priv, "", map[string]any{"sub": "a"})
	for name, p := range map[string][]byte{"PKIX": pemOf(t, pub), "PKCS1": pkcs1, "certificate": cert} {
		v := mustNew(t, Options{PublicKeyPEM: p})
		if _, err := v.VerifyConnect(tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
