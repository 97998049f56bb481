package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

// checkAPIError fails unless body is the server API's error shape and
// nothing else: {"error":{"code":code,"message":"..."}}.
func checkAPIError(t *testing.T, what string, body []byte, code protocol.ErrorCode) string {
	t.Helper()
	var out map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s: body %q is not the API's error shape: %v", what, body, err)
	}
	e, ok := out["error"]
	msg, _ := e["message"].(string)
	if !ok || len(out) != 1 || len(e) != 2 || e["code"] != json.Number(fmt.Sprint(uint32(code))) || msg == "" {
		t.Fatalf("%s: body %s, want {\"error\":{\"code\":%d,\"message\":...}}", what, body, code)
	}
	return msg
}

// TestAPIErrorShape: every failure of the server API, whichever check
// stops the request, is answered with its HTTP status and the one JSON
// error shape, with a protocol error code.
func TestAPIErrorShape(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{APIBodySize: 1024}})
	// Callers from 127.0.0.1 are outside this one's api_allowed_nets.
	fenced := ht.Start(t, ht.Options{Server: server.Config{APIAllowedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}})
	cases := []struct {
		name         string
		base         string
		method, path string
		key          string
		body         string
		status       int
		code         protocol.ErrorCode
		message      string // a part of it
	}{
		{"address not allowed", fenced.URL, "POST", "/api/info", ht.APIKey, "", 403, protocol.CodePermissionDenied, "address not allowed"},
		{"no key", s.URL, "POST", "/api/info", "", "", 401, protocol.CodeUnauthorized, "API key"},
		{"bad key", s.URL, "POST", "/api/info", "wrong-key-wrong-key", "", 401, protocol.CodeUnauthorized, "API key"},
		{"no key, no method", s.URL, "POST", "/api/frobnicate", "", "", 401, protocol.CodeUnauthorized, "API key"},
		{"GET", s.URL, "GET", "/api/info", ht.APIKey, "", 405, protocol.CodeBadRequest, "POST"},
		{"unknown method", s.URL, "POST", "/api/frobnicate", ht.APIKey, "{}", 404, protocol.CodeUnknownCommand, "unknown method"},
		{"no method", s.URL, "POST", "/api/", ht.APIKey, "{}", 404, protocol.CodeUnknownCommand, "unknown method"},
		{"path past the method", s.URL, "POST", "/api/info/x", ht.APIKey, "{}", 404, protocol.CodeUnknownCommand, "unknown method"},
		{"too large", s.URL, "POST", "/api/publish", ht.APIKey, `{"channel":"chat:x","data":"` + strings.Repeat("a", 2000) + `"}`, 413, protocol.CodeLimitExceeded, "1024 bytes"},
		{"malformed JSON", s.URL, "POST", "/api/publish", ht.APIKey, `{"channel":`, 400, protocol.CodeBadRequest, "malformed JSON"},
		{"bad character", s.URL, "POST", "/api/publish", ht.APIKey, `{"channel":x}`, 400, protocol.CodeBadRequest, "invalid character"},
		{"field of the wrong type", s.URL, "POST", "/api/publish", ht.APIKey, `{"channel":5,"data":1}`, 400, protocol.CodeBadRequest, "field channel has the wrong type (number)"},
		{"not an object", s.URL, "POST", "/api/publish", ht.APIKey, `[1]`, 400, protocol.CodeBadRequest, "must be an object"},
		{"method error", s.URL, "POST", "/api/publish", ht.APIKey, `{"channel":"nope:x","data":1}`, 200, protocol.CodeUnknownNamespace, "unknown namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.base+tc.path, strings.NewReader(tc.body))
			if tc.key != "" {
				req.Header.Set("Authorization", "apikey "+tc.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q %s, want %d application/json", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
			}
			if msg := checkAPIError(t, tc.name, body, tc.code); !strings.Contains(msg, tc.message) {
				t.Fatalf("message %q, want it to say %q", msg, tc.message)
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Fatalf("405 without Allow: POST: %v", resp.Header)
			}
		})
	}
}

// TestAPISlowBodyAnswers408: a body that does not arrive within
// RequestBodyTimeout is answered 408 in the API's error shape, not as
// malformed JSON quoting a network error.
func TestAPISlowBodyAnswers408(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{RequestBodyTimeout: 200 * time.Millisecond}})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The 10 s deadline only ends a failing test.
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: apikey %s\r\nContent-Length: 100\r\n\r\n{\"channel\":", ht.APIKey)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("%d %s, want 408", resp.StatusCode, body)
	}
	if msg := checkAPIError(t, "slow body", body, protocol.CodeBadRequest); !strings.Contains(msg, "in time") {
		t.Fatalf("message %q", msg)
	}
}
