package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var writeCorpus = flag.Bool("write-fuzz-corpus", false, "rewrite the committed fuzz seed corpora under testdata/fuzz")

// Fixed keys, so that the committed corpus holds tokens that really verify.
var (
	fuzzSecret = []byte("herald-fuzz-hmac-secret-0123456789")
	fuzzEd     = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	fuzzEC     = func() *ecdsa.PrivateKey {
		scalar := sha256.Sum256([]byte("herald-fuzz-es256"))
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar[:])
		if err != nil {
			panic(err)
		}
		return k
	}()
)

// FuzzVerifyMulti runs tokens through a verifier with every kind of key
// source: an HMAC secret, a PEM Ed25519 key, and a JWK Set holding a P-256
// key with kid "ec".
func FuzzVerifyMulti(f *testing.F) {
	for _, s := range multiSeeds(f) {
		f.Add(s)
	}
	v := newFuzzVerifier(f)
	allowed := v.Algorithms()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.VerifyConnect(token)
		checkVerdict(t, token, err, allowed)
		if err == nil && c.User == "" {
			t.Fatal("accepted a connection token without a user")
		}
		ch, err := v.VerifyChannel(token)
		checkVerdict(t, token, err, allowed)
		if err == nil && (ch.User == "" || ch.Channel == "") {
			t.Fatal("accepted a channel token without a user or channel")
		}
	})
}

// newFuzzVerifier is the verifier FuzzVerifyMulti exercises.
func newFuzzVerifier(tb testing.TB) *Verifier {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(fuzzJWKS())
	}))
	tb.Cleanup(srv.Close)
	return mustNew(tb, Options{
		HMACSecret:           fuzzSecret,
		PublicKeyPEM:         pemOf(tb, fuzzEd.Public()),
		JWKSURL:              srv.URL,
		JWKSRefreshRateLimit: time.Hour,
		Algorithms:           []string{"HS256", "HS384", "HS512", "EdDSA", "ES256"},
	})
}

// TestFuzzSeedsVerify: the corpus starts from tokens that pass every check,
// one per key source and algorithm, so fuzzing mutates real successes.
func TestFuzzSeedsVerify(t *testing.T) {
	v := newFuzzVerifier(t)
	seeds := multiSeeds(t)
	for i, s := range seeds[:7] {
		_, errConn := v.VerifyConnect(s)
		_, errChan := v.VerifyChannel(s)
		if errConn != nil && errChan != nil {
			t.Errorf("seed %d: %v / %v", i, errConn, errChan)
		}
	}
	for i, s := range seeds[7:10] {
		if _, err := v.VerifyConnect(s); err == nil {
			t.Errorf("bad seed %d verified", i+7)
		}
	}
}

// checkVerdict holds for any input: only the two error kinds, never the
// token in the error, and nothing accepted under an algorithm not allowed.
func checkVerdict(t *testing.T, token string, err error, allowed []string) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if len(token) >= 16 && strings.Contains(err.Error(), token) {
			t.Fatalf("error echoes the token: %v", err)
		}
		return
	}
	tok, _, perr := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if perr != nil {
		t.Fatalf("accepted a token that does not parse: %v", perr)
	}
	if !slices.Contains(allowed, tok.Method.Alg()) {
		t.Fatalf("accepted alg %q", tok.Method.Alg())
	}
}

func fuzzJWKS() []byte {
	// Uncompressed point: 0x04, then X and Y of 32 bytes each.
	point, err := fuzzEC.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	x, y := point[1:33], point[33:65]
	b64 := base64.RawURLEncoding.EncodeToString
	return fmt.Appendf(nil, `{"keys":[{"kty":"EC","crv":"P-256","kid":"ec","alg":"ES256","use":"sig","x":%q,"y":%q}]}`, b64(x), b64(y))
}

// rawHS256 signs header and claims JSON exactly as given, so seeds can
// hold odd JSON that still carries a good signature.
func rawHS256(secret []byte, header, claims string) string {
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64([]byte(header)) + "." + b64([]byte(claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + b64(mac.Sum(nil))
}

// oddSeeds are well-signed tokens with unusual JSON, and broken shapes.
func oddSeeds(secret []byte) []string {
	hs := `{"alg":"HS256","typ":"JWT"}`
	out := []string{
		"", ".", "..", "...", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat(".", 100),
		rawHS256(secret, hs, `{"sub":5}`),
		rawHS256(secret, hs, `{"sub":"a","exp":"x"}`),
		rawHS256(secret, hs, `{"sub":"a","exp":1e309}`),
		rawHS256(secret, hs, `{"sub":"a","exp":-1e18}`),
		rawHS256(secret, hs, `{"sub":"a","exp":9223372036854775807}`),
		rawHS256(secret, hs, `{"sub":"a","nbf":1.5,"iat":-0.5}`),
		rawHS256(secret, hs, `{"sub":"a","aud":[1]}`),
		rawHS256(secret, hs, `{"sub":"a","aud":["x",null]}`),
		rawHS256(secret, hs, `{"sub":"a","sub":"b"}`),
		rawHS256(secret, hs, `{"sub":"a","info":null,"channels":null}`),
		rawHS256(secret, hs, `{"sub":"a","channel":""}`),
		rawHS256(secret, hs, `{"sub":"a","channel":"c","channels":["*"]}`),
		rawHS256(secret, hs, `{"sub":"\u00e9\ud83d\ude00","info":{"a":[[[[[[[[[[1]]]]]]]]]]}}`),
		rawHS256(secret, hs, `{"sub":"a"} trailing`),
		rawHS256(secret, hs, `[]`),
		rawHS256(secret, hs, `null`),
		rawHS256(secret, `{"alg":"HS256","kid":5}`, `{"sub":"a"}`),
		rawHS256(secret, `{"alg":"HS256","kid":""}`, `{"sub":"a"}`),
		rawHS256(secret, `{"alg":"HS256","crit":["x"]}`, `{"sub":"a"}`),
		rawHS256(secret, `{"alg":["HS256"]}`, `{"sub":"a"}`),
		rawHS256(secret, `{"alg":"none"}`, `{"sub":"a"}`),
		rawHS256(secret, `{"alg":"ES256","kid":"unknown"}`, `{"sub":"a"}`),
	}
	return out
}

// truncations cuts a token at a few places, including inside each part.
func truncations(tok string) []string {
	var out []string
	for _, n := range []int{1, len(tok) / 3, strings.Index(tok, ".") + 1, strings.LastIndex(tok, "."), len(tok) - 1} {
		if n > 0 && n < len(tok) {
			out = append(out, tok[:n])
		}
	}
	return out
}

func multiSeeds(tb testing.TB) []string {
	conn := map[string]any{"sub": "a", "exp": 4102444800, "info": map[string]any{"x": []int{1}}, "channels": []string{"chat:*"}}
	channel := map[string]any{"sub": "a", "channel": "secret:x"}
	seeds := []string{
		signWith(tb, "HS256", fuzzSecret, "", conn),
		signWith(tb, "HS384", fuzzSecret, "", conn),
		signWith(tb, "HS512", fuzzSecret, "", channel),
		signWith(tb, "EdDSA", fuzzEd, "", conn),
		signWith(tb, "EdDSA", fuzzEd, "not-in-set", channel),
		signWith(tb, "ES256", fuzzEC, "ec", conn),
		signWith(tb, "ES256", fuzzEC, "", channel),
		signWith(tb, "ES256", fuzzEC, "other", conn),
		signWith(tb, "HS256", fuzzSecret, "", map[string]any{"sub": "a", "exp": 1}),
		signWith(tb, "HS256", pemOf(tb, fuzzEd.Public()), "", conn),
	}
	for _, s := range seeds[:6] {
		seeds = append(seeds, truncations(s)...)
	}
	return append(seeds, oddSeeds(fuzzSecret)...)
}

func connectSeeds(tb testing.TB) []string {
	valid, _ := SignHMAC(secret, map[string]any{"sub": "a", "info": map[string]any{"x": []int{1}}})
	seeds := []string{
		valid,
		valid + "x",
		signWith(tb, "HS256", secret, "", map[string]any{"sub": "a", "exp": 4102444800, "iat": 1, "channels": []string{"*"}, "subs": []string{"news"}}),
		signWith(tb, "HS256", secret, "", map[string]any{"sub": "a", "channel": "c"}),
		signWith(tb, "HS384", secret, "", map[string]any{"sub": "a"}),
		signWith(tb, "EdDSA", fuzzEd, "", map[string]any{"sub": "a"}),
	}
	seeds = append(seeds, truncations(valid)...)
	return append(seeds, oddSeeds(secret)...)
}

// TestWriteFuzzCorpus rewrites testdata/fuzz when run with
// -write-fuzz-corpus; otherwise it checks every seed is still committed.
func TestWriteFuzzCorpus(t *testing.T) {
	for target, seeds := range map[string][]string{"FuzzVerifyMulti": multiSeeds(t), "FuzzVerifyConnect": connectSeeds(t)} {
		dir := filepath.Join("testdata", "fuzz", target)
		if *writeCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range seeds {
			name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
			if *writeCorpus {
				if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := os.Stat(name); err != nil {
				t.Errorf("seed corpus missing %s: run go test -run TestWriteFuzzCorpus ./auth -args -write-fuzz-corpus", name)
			}
		}
	}
}
