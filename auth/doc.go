// Package auth verifies the JWTs (RFC 7519) that Herald accepts: connection
// tokens, which say who a client is and what it may do, and channel tokens,
// which grant one user one channel.
//
// # Trust model
//
// A token is trusted only if its signature verifies with a key the operator
// configured, under an algorithm the operator allowed. The keys are:
//
//   - an HMAC secret (Options.HMACSecret), shared with the backend that
//     issues tokens; it verifies HS256, HS384 and HS512 tokens only;
//   - one public key in PEM (Options.PublicKeyPEM): RSA (2048 bits or more),
//     ECDSA P-256 or P-384, or Ed25519;
//   - the public keys of a JWK Set fetched from Options.JWKSURL, cached,
//     refreshed periodically, and refreshed when a token names a key id (kid)
//     the cache does not hold, at most once per Options.JWKSRefreshRateLimit.
//     A failed refresh keeps the last good set; a refresh that succeeds
//     replaces the whole set, so a key removed from the set stops verifying.
//     Symmetric keys in a JWK Set are never used.
//
// # Algorithm pinning
//
// The Verifier accepts only the algorithms in Options.Algorithms (by default
// HS256 when there is an HMAC secret, plus the natural algorithm of each
// public key: RS256 for RSA, ES256 for P-256, ES384 for P-384, EdDSA for
// Ed25519, or the alg a JWK declares). The token's alg header chooses nothing
// by itself: "none" is never accepted, an HS* token is checked against the
// HMAC secret only (so a public key can never serve as an HMAC secret), and
// an asymmetric token is checked only against a key of the matching type and
// curve (and, for a JWK that declares an alg, only that alg).
//
// A token with a kid is checked against the JWK Set key of that id (the PEM
// key is the fallback when the set has no such id; with no JWK Set the kid is
// ignored); a token without a kid is checked against the one configured key
// that fits its algorithm, and is invalid if several keys fit.
//
// # Errors
//
// Every failure is ErrInvalidToken, wrapped with a short reason naming the
// failing part (header, claims, signature, algorithm, key, iss, aud, nbf,
// iat, sub, kind), except ErrTokenExpired, returned only for a token that is
// well formed, well signed and otherwise valid but whose exp has passed by
// more than the leeway. A client may refresh an expired token; an invalid one
// is refused for good. Errors and logs never contain the token.
//
// # Concurrency
//
// A Verifier is safe for concurrent use once built. Leeway and Now may be set
// only before the Verifier is shared. Close stops the JWK Set refreshing.
package auth
