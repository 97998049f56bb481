package demo_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/demo"
)

type tokenReply struct {
	Token     string `json:"token"`
	User      string `json:"user"`
	Expires   int64  `json:"expires"`
	Namespace string `json:"namespace"`
	Error     string `json:"error"`
}

func postToken(t *testing.T, url, ctype, body string) (*http.Response, tokenReply) {
	t.Helper()
	resp, err := http.Post(url+"/demo/token", ctype, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST token: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out tokenReply
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("token reply %q is not JSON: %v", raw, err)
	}
	return resp, out
}

// TestTokenVerifies: the token is an HS256 connection token for the chosen
// name that the server's verifier accepts with the same secret only, and
// lives TokenTTL.
func TestTokenVerifies(t *testing.T) {
	srv := newHandler(t, demo.Options{Namespace: "rooms", TokenTTL: 10 * time.Minute})
	before := time.Now().Unix()
	resp, out := postToken(t, srv.URL, "application/json; charset=utf-8", `{"name": "alice.B-2_x"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out.Error)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	if out.User != "alice.B-2_x" || out.Namespace != "rooms" {
		t.Errorf("reply %+v", out)
	}
	claims, err := auth.NewHMACVerifier(testSecret).VerifyConnect(out.Token)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if claims.User != "alice.B-2_x" || claims.ExpiresAt != out.Expires {
		t.Errorf("claims %+v, reply expires %d", claims, out.Expires)
	}
	if ttl := out.Expires - before; ttl < 599 || ttl > 601 {
		t.Errorf("token lives %ds, want 600", ttl)
	}
	if len(claims.Channels) != 0 || len(claims.Subs) != 0 {
		t.Errorf("token grants more than an identity: %+v", claims)
	}
	if _, err := auth.NewHMACVerifier([]byte("another-secret-0123456789abcdef!")).VerifyConnect(out.Token); err == nil {
		t.Error("token verified with another secret")
	}
}

// TestTokenDefaults: namespace chat and a 15-minute token.
func TestTokenDefaults(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	srv := newHandler(t, demo.Options{Now: func() time.Time { return now }})
	_, out := postToken(t, srv.URL, "application/json", `{"name":"bob"}`)
	if out.Namespace != "chat" || out.Expires != now.Add(15*time.Minute).Unix() {
		t.Errorf("reply %+v, want namespace chat, expires %d", out, now.Add(15*time.Minute).Unix())
	}
}

// TestTokenBadInput: every malformed request gets a clear 4xx and no
// token, and the endpoint keeps working afterwards.
func TestTokenBadInput(t *testing.T) {
	srv := newHandler(t, demo.Options{})
	cases := []struct {
		name, ctype, body string
		status            int
	}{
		{"form post", "application/x-www-form-urlencoded", "name=alice", http.StatusUnsupportedMediaType},
		{"no content type", "", `{"name":"alice"}`, http.StatusUnsupportedMediaType},
		{"text", "text/plain", `{"name":"alice"}`, http.StatusUnsupportedMediaType},
		{"not json", "application/json", `name=alice`, http.StatusBadRequest},
		{"empty body", "application/json", ``, http.StatusBadRequest},
		{"array", "application/json", `["alice"]`, http.StatusBadRequest},
		{"number name", "application/json", `{"name":7}`, http.StatusBadRequest},
		{"unknown field", "application/json", `{"name":"alice","sub":"root"}`, http.StatusBadRequest},
		{"two objects", "application/json", `{"name":"alice"}{"name":"bob"}`, http.StatusBadRequest},
		{"trailing junk", "application/json", `{"name":"alice"} x`, http.StatusBadRequest},
		{"empty name", "application/json", `{"name":""}`, http.StatusBadRequest},
		{"missing name", "application/json", `{}`, http.StatusBadRequest},
		{"33 chars", "application/json", `{"name":"` + strings.Repeat("a", 33) + `"}`, http.StatusBadRequest},
		{"space", "application/json", `{"name":"a b"}`, http.StatusBadRequest},
		{"colon", "application/json", `{"name":"a:b"}`, http.StatusBadRequest},
		{"hash", "application/json", `{"name":"a#b"}`, http.StatusBadRequest},
		{"comma", "application/json", `{"name":"a,b"}`, http.StatusBadRequest},
		{"slash", "application/json", `{"name":"a/b"}`, http.StatusBadRequest},
		{"non-ascii", "application/json", `{"name":"zoë"}`, http.StatusBadRequest},
		{"markup", "application/json", `{"name":"<b>x</b>"}`, http.StatusBadRequest},
		{"control", "application/json", `{"name":"a\u0000"}`, http.StatusBadRequest},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", 2000) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, out := postToken(t, srv.URL, c.ctype, c.body)
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, c.status, out.Error)
			}
			if out.Token != "" || out.Error == "" {
				t.Errorf("reply %+v: want an error and no token", out)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/demo/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET token: status %d, want 405", resp.StatusCode)
	}
	resp2, out := postToken(t, srv.URL, "application/json", `{"name":"`+strings.Repeat("z", 32)+`"}`)
	if resp2.StatusCode != http.StatusOK || out.Token == "" {
		t.Errorf("a valid request after the bad ones: status %d %+v", resp2.StatusCode, out)
	}
}

// TestNewRefusesBadOptions: no secret, or a namespace that would change
// the channel's meaning.
func TestNewRefusesBadOptions(t *testing.T) {
	for _, opts := range []demo.Options{
		{},
		{TokenSecret: []byte{}},
		{TokenSecret: testSecret, Namespace: "a:b"},
		{TokenSecret: testSecret, Namespace: "a b"},
		{TokenSecret: testSecret, Namespace: strings.Repeat("n", 65)},
	} {
		if _, err := demo.New(opts); err == nil {
			t.Errorf("New(%q) succeeded", opts.Namespace)
		} else if strings.Contains(err.Error(), string(testSecret)) {
			t.Errorf("error shows the secret: %v", errors.Unwrap(err))
		}
	}
}
