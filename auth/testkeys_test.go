package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// testKey is a signing key and its public half, generated per test run.
type testKey struct {
	priv any
	pub  any
}

var (
	keyMu    sync.Mutex
	keyCache = map[string][]testKey{}
)

// genKey returns the n-th test key of the kind alg needs ("HS*" keys are
// random secrets), generating it on first use: RSA keys are slow to make.
func genKey(t testing.TB, alg string, n int) testKey {
	t.Helper()
	kind := alg
	switch algFamilies[alg] {
	case familyHMAC:
		kind = "HS"
	case familyRSA:
		kind = "RS"
	}
	keyMu.Lock()
	defer keyMu.Unlock()
	for len(keyCache[kind]) <= n {
		var k testKey
		var err error
		switch kind {
		case "HS":
			b := make([]byte, 32)
			rand.Read(b)
			k = testKey{b, b}
		case "RS":
			var p *rsa.PrivateKey
			p, err = rsa.GenerateKey(rand.Reader, 2048)
			k = testKey{p, &p.PublicKey}
		case "ES256", "ES384":
			curve := elliptic.P256()
			if kind == "ES384" {
				curve = elliptic.P384()
			}
			var p *ecdsa.PrivateKey
			p, err = ecdsa.GenerateKey(curve, rand.Reader)
			k = testKey{p, &p.PublicKey}
		case "EdDSA":
			var pub ed25519.PublicKey
			var p ed25519.PrivateKey
			pub, p, err = ed25519.GenerateKey(rand.Reader)
			k = testKey{p, pub}
		default:
			t.Fatalf("no test key for %s", alg)
		}
		if err != nil {
			t.Fatal(err)
		}
		keyCache[kind] = append(keyCache[kind], k)
	}
	return keyCache[kind][n]
}

// pemOf encodes a public key as a PKIX "PUBLIC KEY" block.
func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// signWith signs claims with alg and key, adding kid to the header when it
// is not empty.
func signWith(t testing.TB, alg string, key any, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims(claims))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", alg, err)
	}
	return s
}

// mustNew builds a Verifier and closes it when the test ends.
func mustNew(t testing.TB, o Options) *Verifier {
	t.Helper()
	v, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func bigOne() *big.Int { return big.NewInt(1) }
