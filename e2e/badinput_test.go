package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// The bad-input matrix: every class of malformed or hostile input a client
// or a backend can send, with the answer PROTOCOL.md specifies. Each row
// runs on its own connection against one server while a bystander stays
// subscribed; at the end the bystander must still receive on its original
// connection and a fresh client must still work, so a row that took more
// than its own connection down fails the test.

// badInput is one row: what the offending connection sends, and the
// answer it must get.
type badInput struct {
	name string
	// connect, when false, sends the input as the first message instead of
	// after a successful connect.
	connect bool
	// send is the JSON text frame to send, or raw writes the frame itself.
	send string
	raw  func(c *ht.RawConn)
	// reply is the error code of the reply to id 9 (0: no error reply
	// expected); close is the close code that must follow (0: the
	// connection must stay open and keep working).
	reply, close int
}

const matrixMaxMessage = 64 << 10

func badInputs(t *testing.T) []badInput {
	other := ht.Token(t, "other", nil)
	forged := forgeSignature(ht.Token(t, "mallory", nil))
	expired := ht.Token(t, "u", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	chanTok := func(user, channel string, exp time.Duration) string {
		return ht.Token(t, user, map[string]any{"channel": channel, "exp": time.Now().Add(exp).Unix()})
	}
	hs512 := signWith(t, jwt.SigningMethodHS512, []byte(ht.Secret), map[string]any{"sub": "u"})
	none := signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"sub": "u"})
	pongs := strings.Repeat(`{"type":"pong"}`+"\n", 3000)

	rows := []badInput{
		// Malformed messages: close 4500.
		{name: "not JSON", send: "hello", close: 4500},
		{name: "JSON array", send: "[1,2]", close: 4500},
		{name: "truncated JSON", connect: true, send: `{"id":9,"type":"publish",`, close: 4500},
		{name: "id negative", connect: true, send: `{"id":-1,"type":"presence_stats","channel":"chat:m"}`, close: 4500},
		{name: "id fractional", connect: true, send: `{"id":1.5,"type":"presence_stats","channel":"chat:m"}`, close: 4500},
		{name: "id above 2^32-1", connect: true, send: `{"id":4294967296,"type":"presence_stats","channel":"chat:m"}`, close: 4500},
		{name: "id 1e400", connect: true, send: `{"id":1e400,"type":"presence_stats","channel":"chat:m"}`, close: 4500},
		{name: "channel of wrong type", connect: true, send: `{"id":9,"type":"subscribe","channel":5}`, close: 4500},
		{name: "since of wrong type", connect: true, send: `{"id":9,"type":"subscribe","channel":"chat:m","since":"yesterday"}`, close: 4500},
		{name: "token of wrong type", send: `{"id":9,"type":"connect","token":{"sub":"u"}}`, close: 4500},
		{name: "history limit 1e30", connect: true, send: `{"id":9,"type":"history","channel":"chat:m","limit":1e30}`, close: 4500},
		{name: "first command not connect", send: `{"id":9,"type":"subscribe","channel":"chat:m"}`, close: 4500},
		{name: "unknown command", connect: true, send: `{"id":9,"type":"frobnicate"}`, reply: 104, close: 4500},

		// Opaque data is passed through, whatever it holds.
		{name: "huge number in data", connect: true, send: `{"id":9,"type":"publish","channel":"chat:m","data":1e400}`},
		// Nesting: past the hub's depth limit the field is refused (107);
		// past the JSON decoder's own bound the frame cannot be decoded.
		{name: "nested data past the depth limit", connect: true, send: `{"id":9,"type":"publish","channel":"chat:m","data":` + ht.NestedJSON(100) + `}`, reply: 107},
		{name: "absurdly nested data", connect: true, send: `{"id":9,"type":"publish","channel":"chat:m","data":` + ht.NestedJSON(20000) + `}`, close: 4500},

		// Invalid fields of a well-formed command: an error reply, and the
		// connection goes on.
		{name: "empty channel", connect: true, send: `{"id":9,"type":"subscribe","channel":""}`, reply: 107},
		{name: "channel with a space", connect: true, send: `{"id":9,"type":"subscribe","channel":"chat:a b"}`, reply: 107},
		{name: "channel of 256 bytes", connect: true, send: `{"id":9,"type":"subscribe","channel":"chat:` + strings.Repeat("x", 251) + `"}`, reply: 107},
		{name: "channel with a control character", connect: true, send: `{"id":9,"type":"subscribe","channel":"chat:\u0001"}`, reply: 107},
		{name: "unknown namespace", connect: true, send: `{"id":9,"type":"subscribe","channel":"nope:x"}`, reply: 102},
		{name: "negative history limit", connect: true, send: `{"id":9,"type":"history","channel":"chat:m","limit":-1}`, reply: 107},
		{name: "other users' channel", connect: true, send: `{"id":9,"type":"subscribe","channel":"chat:dm#alice,bob"}`, reply: 103},

		// Tokens.
		{name: "forged connection token", send: `{"id":9,"type":"connect","token":"` + forged + `"}`, reply: 101, close: 4501},
		{name: "expired connection token", send: `{"id":9,"type":"connect","token":"` + expired + `"}`, reply: 109, close: 4003},
		{name: "garbage token", send: `{"id":9,"type":"connect","token":"a.b.c"}`, reply: 101, close: 4501},
		{name: "token with another algorithm", send: `{"id":9,"type":"connect","token":"` + hs512 + `"}`, reply: 101, close: 4501},
		{name: "token with alg none", send: `{"id":9,"type":"connect","token":"` + none + `"}`, reply: 101, close: 4501},
		{name: "channel token to connect", send: `{"id":9,"type":"connect","token":"` + chanTok("u", "news:x", time.Hour) + `"}`, reply: 101, close: 4501},
		{name: "channel token for another channel", connect: true, send: `{"id":9,"type":"subscribe","channel":"news:a","token":"` + chanTok("u", "news:b", time.Hour) + `"}`, reply: 103},
		{name: "channel token for another user", connect: true, send: `{"id":9,"type":"subscribe","channel":"news:a","token":"` + chanTok("other", "news:a", time.Hour) + `"}`, reply: 103},
		{name: "forged channel token", connect: true, send: `{"id":9,"type":"subscribe","channel":"news:a","token":"` + forgeSignature(chanTok("u", "news:a", time.Hour)) + `"}`, reply: 103},
		{name: "expired channel token", connect: true, send: `{"id":9,"type":"subscribe","channel":"news:a","token":"` + chanTok("u", "news:a", -time.Hour) + `"}`, reply: 109},
		{name: "refresh as another user", connect: true, send: `{"id":9,"type":"refresh","token":"` + other + `"}`, reply: 101},

		// Frames.
		{name: "invalid UTF-8", connect: true, raw: func(c *ht.RawConn) {
			c.WriteText([]byte("{\"id\":9,\"type\":\"publish\",\"channel\":\"chat:m\",\"data\":\"\xff\xfe\"}"))
		}, close: 1007},
		{name: "oversized frame", connect: true, send: `{"id":9,"type":"publish","channel":"chat:m","data":"` + strings.Repeat("a", matrixMaxMessage) + `"}`, close: 1009},
		{name: "oversized batch", connect: true, send: pongs, close: 4500}, // more commands than a frame may carry
		{name: "fragment flood", connect: true, raw: func(c *ht.RawConn) {
			c.WriteFrame(0x01, []byte("{"))
			for range matrixMaxMessage + 1 {
				c.WriteFrame(0x00, []byte(" "))
			}
		}, close: 1009},
		{name: "binary frame on JSON", connect: true, raw: func(c *ht.RawConn) { c.WriteFrame(0x82, []byte{1, 2, 3}) }, close: 1003},
		{name: "control frame over 125 bytes", connect: true, raw: func(c *ht.RawConn) { c.WriteFrame(0x89, make([]byte, 126)) }, close: 1002},
		{name: "fragmented control frame", connect: true, raw: func(c *ht.RawConn) { c.WriteFrame(0x09, []byte("x")) }, close: 1002},
		{name: "unmasked frame", connect: true, raw: func(c *ht.RawConn) { c.WriteBytes([]byte{0x81, 2, '{', '}'}) }, close: 1002},
		{name: "reserved opcode", connect: true, raw: func(c *ht.RawConn) { c.WriteFrame(0x83, []byte("x")) }, close: 1002},
		{name: "frame length with top bit set", connect: true, raw: func(c *ht.RawConn) {
			c.WriteBytes([]byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})
		}, close: 1002},
	}
	return rows
}

func TestBadInputMatrix(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{MaxMessageSize: matrixMaxMessage}})
	bystander, _ := s.Connect(t, ht.Token(t, "bystander", nil))
	if r := bystander.Call(map[string]any{"type": "subscribe", "channel": "chat:bystander"}); r.ErrorCode() != 0 {
		t.Fatal(r)
	}
	token := ht.Token(t, "u", nil)

	for _, row := range badInputs(t) {
		t.Run(row.name, func(t *testing.T) {
			c := ht.DialRaw(t, s.Addr(), "/ws", nil)
			if row.connect {
				c.WriteText([]byte(`{"id":1,"type":"connect","token":"` + token + `"}`))
				if f, err := c.ReadFrame(5 * time.Second); err != nil || !strings.Contains(string(f.Payload), `"result"`) {
					t.Fatalf("connect: %v %q", err, f.Payload)
				}
			}
			if row.raw != nil {
				row.raw(c)
			} else {
				c.WriteText([]byte(row.send))
			}
			if row.close == 0 {
				// The connection stays and keeps working.
				c.WriteText([]byte(`{"id":10,"type":"presence_stats","channel":"chat:m"}`))
			}
			replies, closeCode := readAnswers(t, c, row.close != 0)
			if row.reply != 0 && replies[9] != row.reply {
				t.Errorf("reply to id 9: error %d, want %d (replies %v)", replies[9], row.reply, replies)
			}
			if row.reply == 0 && replies[9] > 0 {
				t.Errorf("reply to id 9: error %d, want success", replies[9])
			}
			if closeCode != row.close {
				t.Errorf("close code %d, want %d", closeCode, row.close)
			}
			if row.close == 0 && replies[10] != 0 {
				t.Errorf("the connection stopped working: reply to id 10 is %d", replies[10])
			}
		})
	}

	t.Run("idempotency key replayed", func(t *testing.T) {
		watcher, _ := s.Connect(t, ht.Token(t, "watcher", nil))
		watcher.Call(map[string]any{"type": "subscribe", "channel": "chat:idem"})
		body := map[string]any{"channel": "chat:idem", "data": "once", "idempotency_key": "k-1"}
		first := s.MustAPI("publish", body)
		second := s.MustAPI("publish", body)
		if fmt.Sprint(first) != fmt.Sprint(second) {
			t.Fatalf("replayed key: %v then %v, want the same result", first, second)
		}
		s.MustAPI("publish", map[string]any{"channel": "chat:idem", "data": "after"})
		got := watcher.Messages("chat:idem", 2)
		if ht.JSON(got[0]["data"]) != `"once"` || ht.JSON(got[1]["data"]) != `"after"` {
			t.Fatalf("delivered %v, want the replayed publication once", got)
		}
	})

	apiRows := []struct {
		name, method, key string
		body              any
		status            int
	}{
		{"API without key", "publish", "", `{"channel":"chat:m","data":1}`, http.StatusUnauthorized},
		{"API with a wrong key", "publish", "not-the-key", `{"channel":"chat:m","data":1}`, http.StatusUnauthorized},
		{"API with a key one byte off", "publish", ht.APIKey[:len(ht.APIKey)-1] + "X", `{"channel":"chat:m","data":1}`, http.StatusUnauthorized},
		{"API malformed JSON", "publish", ht.APIKey, `{"channel":`, http.StatusBadRequest},
		{"API field of wrong type", "publish", ht.APIKey, `{"channel":5,"data":1}`, http.StatusBadRequest},
		{"API unknown method", "frobnicate", ht.APIKey, `{}`, http.StatusNotFound},
		{"API oversized body", "publish", ht.APIKey, `{"channel":"chat:m","data":"` + strings.Repeat("a", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, row := range apiRows {
		t.Run(row.name, func(t *testing.T) {
			if status, body := s.APIRaw(row.method, row.key, row.body); status != row.status {
				t.Fatalf("HTTP %d %s, want %d", status, body, row.status)
			}
		})
	}
	t.Run("API bad channel", func(t *testing.T) {
		_, out := s.API("publish", map[string]any{"channel": "chat:a b", "data": 1})
		if e, _ := out["error"].(map[string]any); ht.Num(e["code"]) != 107 {
			t.Fatalf("%v, want error 107", out)
		}
	})

	// Nothing above reached beyond its own connection or request.
	s.MustAPI("publish", map[string]any{"channel": "chat:bystander", "data": "still here"})
	if m := bystander.Messages("chat:bystander", 1)[0]; ht.JSON(m["data"]) != `"still here"` {
		t.Fatalf("bystander got %v", m)
	}
	s.StillServes(t)
}

// readAnswers reads until the connection closes (when wantClose) or until
// the reply to id 10 arrives, and returns the error code of each reply by
// id (0 for a result) and the close code.
func readAnswers(t *testing.T, c *ht.RawConn, wantClose bool) (map[int]int, int) {
	t.Helper()
	replies := map[int]int{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			return replies, 0 // connection dropped without a close frame
		}
		if f.Opcode == 0x8 {
			return replies, f.CloseCode()
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(f.Payload)), "\n") {
			var m ht.Msg
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("server sent %q: %v", line, err)
			}
			if id := m.ID(); id != 0 {
				replies[id] = m.ErrorCode()
				if id == 10 && !wantClose {
					return replies, 0
				}
			}
		}
	}
	t.Fatalf("no answer within 10s (replies so far %v)", replies)
	return nil, 0
}

// forgeSignature returns tok with its signature replaced by another of the
// same length.
func forgeSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	for j := range sig {
		sig[j] ^= 0x5a
	}
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func signWith(t *testing.T, m jwt.SigningMethod, key any, claims map[string]any) string {
	t.Helper()
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	s, err := jwt.NewWithClaims(m, jwt.MapClaims(claims)).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
