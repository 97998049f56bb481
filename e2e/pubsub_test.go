package e2e_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

func TestSubscribePublish(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		a, _ := s.Connect(t, ht.Token(t, "alice", nil))
		b, _ := s.Connect(t, ht.Token(t, "bob", nil))
		for _, c := range []*ht.Client{a, b} {
			r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:room"})
			if r.ErrorCode() != 0 || r.Result()["epoch"] == "" {
				t.Fatalf("subscribe: %v", r)
			}
		}
		r := a.Call(map[string]any{"type": "publish", "channel": "chat:room", "data": map[string]any{"text": "hi"}})
		if ht.Num(r.Result()["offset"]) != 1 {
			t.Fatalf("publish: %v", r)
		}
		for _, c := range []*ht.Client{a, b} {
			m := c.Messages("chat:room", 1)[0]
			info := m["info"].(map[string]any)
			if ht.Num(m["offset"]) != 1 || ht.JSON(m["data"]) != `{"text":"hi"}` || info["user"] != "alice" || ht.Num(m["ts"]) == 0 {
				t.Fatalf("message %v", m)
			}
		}
	})
}

func TestPublishWithoutHistory(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "plain"})
		r := c.Call(map[string]any{"type": "publish", "channel": "plain", "data": "x"})
		if r.ErrorCode() != 0 || ht.Num(r.Result()["offset"]) != 0 {
			t.Fatalf("publish: %v", r)
		}
		m := c.Messages("plain", 1)[0]
		if _, ok := m["offset"]; ok {
			t.Fatalf("message without history has an offset: %v", m)
		}
	})
}

func TestUnsubscribe(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:u"})
		for i := 0; i < 2; i++ { // idempotent
			if r := c.Call(map[string]any{"type": "unsubscribe", "channel": "chat:u"}); r.ErrorCode() != 0 {
				t.Fatalf("unsubscribe: %v", r)
			}
		}
		s.MustAPI("publish", map[string]any{"channel": "chat:u", "data": 1})
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:other"})
		s.MustAPI("publish", map[string]any{"channel": "chat:other", "data": 2})
		c.Messages("chat:other", 1)
		for _, m := range c.All() {
			if m.Type() == "message" && m["channel"] == "chat:u" {
				t.Fatalf("message after unsubscribe: %v", m)
			}
		}
	})
}

func TestSubscribeErrors(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{MaxChannelsPerConnection: 3}})
		c, _ := s.Connect(t, ht.Token(t, "alice", nil))
		long := make([]byte, 256)
		for i := range long {
			long[i] = 'a'
		}
		cases := []struct {
			channel string
			code    int
		}{
			{"", 107},
			{"has space", 107},
			{string(long), 107},
			{"caf\u00e9", 107},
			{"nope:x", 102},
			{"chat:dm#bob,carol", 103},
			{"secret:x", 103},
		}
		for _, tc := range cases {
			if r := c.Call(map[string]any{"type": "subscribe", "channel": tc.channel}); r.ErrorCode() != tc.code {
				t.Errorf("subscribe %q: %v, want %d", tc.channel, r, tc.code)
			}
		}
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:dm#alice,bob"}); r.ErrorCode() != 0 {
			t.Fatalf("own user channel: %v", r)
		}
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:dm#alice,bob"}); r.ErrorCode() != 105 {
			t.Fatalf("twice: %v, want 105", r)
		}
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:2"})
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:3"})
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:4"}); r.ErrorCode() != 106 {
			t.Fatalf("over the channel limit: %v, want 106", r)
		}
	})
}

func TestChannelTokens(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "alice", nil))
		chTok := func(user, channel string, exp time.Duration) string {
			return ht.Token(t, user, map[string]any{"channel": channel, "exp": time.Now().Add(exp).Unix()})
		}
		cases := []struct {
			name  string
			token string
			code  int
		}{
			{"other user", chTok("bob", "secret:a", time.Hour), 103},
			{"other channel", chTok("alice", "secret:b", time.Hour), 103},
			{"expired", chTok("alice", "secret:a", -time.Minute), 109},
			{"connection token", ht.Token(t, "alice", nil), 103},
			{"garbage", "x.y.z", 103},
			{"valid", chTok("alice", "secret:a", time.Hour), 0},
		}
		for _, tc := range cases {
			if r := c.Call(map[string]any{"type": "subscribe", "channel": "secret:a", "token": tc.token}); r.ErrorCode() != tc.code {
				t.Errorf("%s: %v, want %d", tc.name, r, tc.code)
			}
		}
	})
}

func TestTokenChannelsAndSubsClaims(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		tok := ht.Token(t, "alice", map[string]any{"channels": []string{"secret:team*"}, "subs": []string{"chat:lobby"}})
		c, res := s.Connect(t, tok)
		subs := res["subs"].(map[string]any)
		if _, ok := subs["chat:lobby"]; !ok {
			t.Fatalf("subs claim not subscribed: %v", res)
		}
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "secret:team-1"}); r.ErrorCode() != 0 {
			t.Fatalf("channels claim: %v", r)
		}
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "secret:other"}); r.ErrorCode() != 103 {
			t.Fatalf("outside channels claim: %v", r)
		}
		s.MustAPI("publish", map[string]any{"channel": "chat:lobby", "data": "hello"})
		c.Messages("chat:lobby", 1)
	})
}

func TestPublishPermissions(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{Anonymous: true}})
		c, _ := s.Connect(t, ht.Token(t, "alice", nil))
		if r := c.Call(map[string]any{"type": "publish", "channel": "news:x", "data": 1}); r.ErrorCode() != 103 {
			t.Fatalf("publish to allow_publish none: %v", r)
		}
		if r := c.Call(map[string]any{"type": "publish", "channel": "plain", "data": 1}); r.ErrorCode() != 103 {
			t.Fatalf("publish as non-subscriber: %v", r)
		}
		if r := c.Call(map[string]any{"type": "publish", "channel": "chat:x"}); r.ErrorCode() != 107 {
			t.Fatalf("publish without data: %v", r)
		}
		c.Call(map[string]any{"type": "subscribe", "channel": "plain"})
		if r := c.Call(map[string]any{"type": "publish", "channel": "plain", "data": 1}); r.ErrorCode() != 0 {
			t.Fatalf("publish as subscriber: %v", r)
		}
		if r := c.Call(map[string]any{"type": "publish", "channel": "chat:dm#bob", "data": 1}); r.ErrorCode() != 103 {
			t.Fatalf("publish to another user's channel: %v", r)
		}
	})
}

// TestOrderingUnderConcurrentPublishers checks that every subscriber sees
// each channel's publications in offset order with no gap.
func TestOrderingUnderConcurrentPublishers(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		const subs, pubs, per = 5, 4, 50
		clients := make([]*ht.Client, subs)
		for i := range clients {
			clients[i], _ = s.Connect(t, ht.Token(t, fmt.Sprint("s", i), nil))
			clients[i].Call(map[string]any{"type": "subscribe", "channel": "chat:order"})
		}
		var wg sync.WaitGroup
		for p := 0; p < pubs; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					s.MustAPI("publish", map[string]any{"channel": "chat:order", "data": i})
				}
			}()
		}
		wg.Wait()
		for _, c := range clients {
			for i, m := range c.Messages("chat:order", pubs*per) {
				if ht.Num(m["offset"]) != i+1 {
					t.Fatalf("message %d has offset %v", i, m["offset"])
				}
			}
		}
	})
}
