package e2e_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// tokenWithoutExp mints a connection token that never expires.
func tokenWithoutExp(t *testing.T, user string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": user}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := auth.SignHMAC([]byte(ht.Secret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRefreshWithoutExp: a token without exp cannot refresh a connection
// that expires (107), which still closes with 4003 at its exp; one whose
// connect token had no exp may refresh with another such token, or take
// an exp from one.
func TestRefreshWithoutExp(t *testing.T) {
	waitsOnClock(t)
	s := ht.Start(t, ht.Options{Hub: hub.Config{RefreshNotice: time.Second}})
	exp := time.Now().Add(1500*time.Millisecond).Unix() + 1
	c, _ := s.Connect(t, ht.Token(t, "u", map[string]any{"exp": exp}))
	if r := c.Call(map[string]any{"type": "refresh", "token": tokenWithoutExp(t, "u", nil)}); r.ErrorCode() != 107 {
		t.Fatalf("refresh without exp: %v, want error 107", r)
	}
	c.ExpectClose(4003)

	forever, res := s.Connect(t, tokenWithoutExp(t, "w", nil))
	if _, ok := res["expires"]; ok {
		t.Fatalf("connect result %v", res)
	}
	if r := forever.Call(map[string]any{"type": "refresh", "token": tokenWithoutExp(t, "w", nil)}); r.ErrorCode() != 0 || r.Result()["expires"] != nil {
		t.Fatalf("refresh without exp of a connection without: %v", r)
	}
	later := time.Now().Add(time.Hour).Unix()
	if r := forever.Call(map[string]any{"type": "refresh", "token": ht.Token(t, "w", map[string]any{"exp": later})}); int64(ht.Num(r.Result()["expires"])) != later {
		t.Fatalf("refresh with exp: %v", r)
	}
	if r := forever.Call(map[string]any{"type": "refresh", "token": tokenWithoutExp(t, "w", nil)}); r.ErrorCode() != 107 {
		t.Fatalf("refresh without exp after one with: %v, want 107", r)
	}
}

// TestRefreshReplacesChannelsAndInfo: the new token's channels claim
// decides later subscribes, and its info is what presence shows, at once.
func TestRefreshReplacesChannelsAndInfo(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c, _ := s.Connect(t, ht.Token(t, "u", map[string]any{"channels": []string{"secret:a"}, "info": map[string]any{"v": 1}}))
	sub := func(ch string) int {
		return c.Call(map[string]any{"type": "subscribe", "channel": ch}).ErrorCode()
	}
	infoOf := func() any {
		t.Helper()
		r := c.Call(map[string]any{"type": "presence", "channel": "chat:p"})
		for _, e := range r.Result()["clients"].(map[string]any) {
			return e.(map[string]any)["info"]
		}
		t.Fatalf("presence %v", r)
		return nil
	}
	if sub("secret:a") != 0 || sub("secret:b") != 103 || sub("chat:p") != 0 {
		t.Fatal("subscribes under the first token")
	}
	if v := infoOf().(map[string]any)["v"]; v != float64(1) {
		t.Fatalf("info before refresh: %v", v)
	}
	r := c.Call(map[string]any{"type": "refresh", "token": ht.Token(t, "u", map[string]any{"channels": []string{"secret:b"}, "info": map[string]any{"v": 2}})})
	if r.ErrorCode() != 0 {
		t.Fatalf("refresh: %v", r)
	}
	if v := infoOf().(map[string]any)["v"]; v != float64(2) {
		t.Errorf("info after refresh: %v, want the new token's", v)
	}
	if code := sub("secret:b"); code != 0 {
		t.Errorf("subscribe to a channel the new token grants: %d", code)
	}
	if code := c.Call(map[string]any{"type": "unsubscribe", "channel": "secret:a"}).ErrorCode(); code != 0 {
		t.Fatal(code)
	}
	if code := sub("secret:a"); code != 103 {
		t.Errorf("subscribe to a channel only the old token granted: %d, want 103", code)
	}
	// Info removed by the new token is gone from presence too.
	if r := c.Call(map[string]any{"type": "refresh", "token": ht.Token(t, "u", nil)}); r.ErrorCode() != 0 {
		t.Fatalf("refresh: %v", r)
	}
	if info := infoOf(); info != nil {
		t.Errorf("info after a refresh without: %v", info)
	}
}
