package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

type family int

// The zero family is none, so a missing table entry never means HMAC.
const (
	familyNone family = iota
	familyHMAC
	familyRSA
	familyP256
	familyP384
	familyEd25519
)

// algFamilies lists every algorithm a Verifier can accept and the kind of
// key it needs. Anything else (none, PS*, ES512) is never accepted.
var algFamilies = map[string]family{
	"HS256": familyHMAC, "HS384": familyHMAC, "HS512": familyHMAC,
	"RS256": familyRSA, "RS384": familyRSA, "RS512": familyRSA,
	"ES256": familyP256, "ES384": familyP384,
	"EdDSA": familyEd25519,
}

var algNames = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"}

// minRSABits refuses keys too short to trust.
const minRSABits = 2048

// keyFamily tells what a public key may verify; ok is false for any other
// key, []byte included, so a fetched or parsed key never becomes an HMAC
// secret.
func keyFamily(key any) (family, bool) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return familyRSA, k.N != nil && k.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return familyP256, true
		case elliptic.P384():
			return familyP384, true
		}
	case ed25519.PublicKey:
		return familyEd25519, len(k) == ed25519.PublicKeySize
	}
	return familyNone, false
}

// keyFits reports whether the public key key may verify tokens of alg.
func keyFits(key any, alg string) bool {
	want, ok := algFamilies[alg]
	if !ok || want == familyHMAC {
		return false
	}
	have, ok := keyFamily(key)
	return ok && have == want
}

// naturalAlg is the algorithm a key of this type is used with by default.
func naturalAlg(key any) string {
	switch f, _ := keyFamily(key); f {
	case familyP256:
		return "ES256"
	case familyP384:
		return "ES384"
	case familyEd25519:
		return "EdDSA"
	}
	return "RS256"
}

func looksLikePEM(b []byte) bool {
	return bytes.Contains(b, []byte("-----BEGIN "))
}

// parsePublicKeyPEM reads exactly one public key.
func parsePublicKeyPEM(data []byte) (any, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("auth: PublicKeyPEM holds no PEM block")
	}
	if looksLikePEM(rest) {
		return nil, errors.New("auth: PublicKeyPEM holds more than one PEM block; give one key")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		// Private keys land here too: they do not belong in a verifier's
		// configuration.
		return nil, fmt.Errorf("auth: PublicKeyPEM is a %q block, want a public key or certificate", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: PublicKeyPEM: %w", err)
	}
	if _, ok := keyFamily(key); !ok {
		return nil, fmt.Errorf("auth: PublicKeyPEM: unsupported key %T (want RSA of %d bits or more, ECDSA P-256 or P-384, or Ed25519)", key, minRSABits)
	}
	return key, nil
}

// keyError is a reason for refusing a token, written by this package and so
// safe to show.
type keyError string

func (e keyError) Error() string { return string(e) }

// keyFor chooses the key for a token: the parser has already checked that
// the alg is allowed, and verifies the signature with what this returns.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	fam := algFamilies[alg]
	if fam == familyNone || !slices.Contains(v.algs, alg) {
		// The parser checked already; this keeps keyFor safe on its own.
		return nil, keyError("algorithm not allowed")
	}
	if fam == familyHMAC {
		if v.hmac == nil {
			return nil, keyError("no HMAC secret for an HS token")
		}
		return v.hmac, nil
	}
	kid, hasKid := t.Header["kid"]
	if hasKid {
		s, ok := kid.(string)
		if !ok {
			return nil, keyError("kid is not a string")
		}
		if s != "" && v.jwks != nil {
			if key, found, err := v.jwks.key(s, alg); found {
				return key, err
			}
			if v.pem != nil && keyFits(v.pem, alg) {
				return v.pem, nil
			}
			return nil, keyError("unknown kid")
		}
	}
	var candidates []any
	if v.pem != nil && keyFits(v.pem, alg) {
		candidates = append(candidates, v.pem)
	}
	if v.jwks != nil {
		candidates = append(candidates, v.jwks.keysFor(alg)...)
	}
	switch len(candidates) {
	case 0:
		return nil, keyError("no key fits the algorithm")
	case 1:
		return candidates[0], nil
	}
	return nil, keyError("several keys fit the algorithm and the token has no kid")
}
