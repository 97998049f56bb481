package heraldtest

import (
	"encoding/json"
	"strings"
	"testing"
)

// Num is a JSON number as the client decodes it (a float64), as an int;
// 0 when v is not a number.
func Num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// JSON is v marshalled to JSON, for comparing decoded values by their
// spelling.
func JSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// StillServes fails the test unless a fresh connection can connect and
// subscribe: a check that some abuse took down no more than its own
// connection.
func (s *Server) StillServes(t testing.TB) {
	t.Helper()
	c, _ := s.Connect(t, Token(t, "fresh", nil))
	r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:still-serves"})
	if r.ErrorCode() != 0 {
		t.Fatalf("fresh connection cannot subscribe: %v", r)
	}
	c.Conn.CloseNow()
}

// NestedJSON is a JSON value n arrays deep, for the depth limits.
func NestedJSON(n int) string {
	return strings.Repeat("[", n) + strings.Repeat("]", n)
}
