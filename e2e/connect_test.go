package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

func TestConnectWithToken(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		exp := time.Now().Add(time.Hour).Unix()
		c := s.Dial(t)
		r := c.Call(map[string]any{"type": "connect", "token": ht.Token(t, "alice", map[string]any{"exp": exp}), "name": "test", "version": "1"})
		res := r.Result()
		if res["user"] != "alice" || res["client"] == "" || res["ping"].(float64) != 25 {
			t.Fatalf("connect result %v", res)
		}
		if int64(res["expires"].(float64)) != exp {
			t.Fatalf("expires %v, want %d", res["expires"], exp)
		}
		inbox := res["inbox"].(map[string]any)
		if inbox["epoch"] == "" {
			t.Fatalf("inbox position missing: %v", inbox)
		}
	})
}

func TestConnectAnonymous(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		t.Run("allowed", func(t *testing.T) {
			s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{Anonymous: true}})
			_, res := s.Connect(t, "")
			if res["user"] != "" {
				t.Fatalf("user %v", res["user"])
			}
			if _, ok := res["inbox"]; ok {
				t.Fatalf("anonymous connection has an inbox: %v", res)
			}
		})
		t.Run("refused", func(t *testing.T) {
			s := ht.Start(t, ht.Options{Encoding: enc})
			c := s.Dial(t)
			if r := c.Call(map[string]any{"type": "connect"}); r.ErrorCode() != 101 {
				t.Fatalf("reply %v, want error 101", r)
			}
			c.ExpectClose(4501)
			s.StillServes(t)
		})
	})
}

// tamper changes one character in the middle of a token's signature. (The
// last characters of base64 may carry padding bits only: changing them
// can leave the signature's bytes, and the token, valid.)
func tamper(token string) string {
	i := strings.LastIndexByte(token, '.') + (len(token)-strings.LastIndexByte(token, '.'))/2
	c := byte('A')
	if token[i] == c {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}

func TestConnectBadTokens(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		expired := ht.Token(t, "bob", map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
		otherKey, _ := auth.SignHMAC([]byte("not-the-secret-not-the-secret-xx"), map[string]any{"sub": "bob"})
		valid := ht.Token(t, "bob", nil)
		cases := []struct {
			name      string
			token     string
			code      int
			closeCode int
		}{
			{"expired", expired, 109, 4003},
			{"bad signature", otherKey, 101, 4501},
			{"malformed", "not.a.jwt", 101, 4501},
			{"tampered", tamper(valid), 101, 4501},
			{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJib2IifQ.", 101, 4501},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := s.Dial(t)
				r := c.Call(map[string]any{"type": "connect", "token": tc.token})
				if r.ErrorCode() != tc.code {
					t.Fatalf("reply %v, want error %d", r, tc.code)
				}
				c.ExpectClose(tc.closeCode)
			})
		}
		s.StillServes(t)
	})
}

func TestFirstCommandMustBeConnect(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c := s.Dial(t)
		c.Send(map[string]any{"id": 1, "type": "subscribe", "channel": "x"})
		c.ExpectClose(4500)
		s.StillServes(t)
	})
}

func TestConnectTimeout(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{ConnectTimeout: 200 * time.Millisecond}})
		c := s.Dial(t)
		start := time.Now()
		c.ExpectClose(4500)
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("closed after %v", el)
		}
	})
}

func TestConnectTwice(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		if r := c.Call(map[string]any{"type": "connect"}); r.ErrorCode() != 107 {
			t.Fatalf("second connect: %v, want 107", r)
		}
	})
}

func TestMalformedInput(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cases := map[string]string{
		"not json":        "hello",
		"array":           "[1,2]",
		"missing type":    `{"id":1}`,
		"negative id":     `{"id":-1,"type":"connect"}`,
		"id too large":    `{"id":4294967296,"type":"connect"}`,
		"fractional id":   `{"id":1.5,"type":"connect"}`,
		"truncated":       `{"id":1,"type":"conn`,
		"wrong data type": `{"id":1,"type":"connect","token":5}`,
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			c := ht.Dial(t, s.WSURL, nil)
			c.Send(frame)
			c.ExpectClose(4500)
		})
	}
	t.Run("after connect", func(t *testing.T) {
		c, _ := ht.Connect(t, s.WSURL, ht.Token(t, "u", nil))
		c.Send(`{"id":2,"type":"publish",`)
		c.ExpectClose(4500)
	})
	s.StillServes(t)
}

// TestUnknownCommandType: a well-formed command of an unknown type gets error
// 104, then the connection is closed with 4500.
func TestUnknownCommandType(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		if r := c.Call(map[string]any{"type": "frobnicate"}); r.ErrorCode() != 104 {
			t.Fatalf("reply %v, want 104", r)
		}
		c.ExpectClose(4500)
		s.StillServes(t)
	})
}

func TestBatchedCommands(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c := ht.Dial(t, s.WSURL, nil)
	tok := ht.Token(t, "u", nil)
	c.Send(`{"id":1,"type":"connect","token":"` + tok + `"}` + "\n" +
		`{"id":2,"type":"subscribe","channel":"chat:a"}` + "\n" +
		`{"id":3,"type":"publish","channel":"chat:a","data":{"n":1}}` + "\n")
	var ids []int
	for len(ids) < 3 {
		m := c.Wait(func(m ht.Msg) bool { return m.ID() != 0 }, "reply")
		if m.ErrorCode() != 0 {
			t.Fatalf("error reply %v", m)
		}
		ids = append(ids, m.ID())
	}
	if ids[0] != 1 || ids[1] != 2 || ids[2] != 3 {
		t.Fatalf("replies out of order: %v", ids)
	}
	msg := c.Messages("chat:a", 1)[0]
	if !strings.Contains(ht.JSON(msg["data"]), `"n":1`) {
		t.Fatalf("message %v", msg)
	}
}
