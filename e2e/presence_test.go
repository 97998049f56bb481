package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

func TestPresenceAndJoinLeave(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		a, ra := s.Connect(t, ht.Token(t, "alice", map[string]any{"info": map[string]any{"name": "Alice"}}))
		a.Call(map[string]any{"type": "subscribe", "channel": "chat:p"})
		a.Push("join") // its own

		b, rb := s.Connect(t, ht.Token(t, "bob", nil))
		b.Call(map[string]any{"type": "subscribe", "channel": "chat:p"})
		j := a.Push("join")
		if info := j["info"].(map[string]any); j["channel"] != "chat:p" || info["user"] != "bob" || info["client"] != rb["client"] {
			t.Fatalf("join %v", j)
		}

		p := a.Call(map[string]any{"type": "presence", "channel": "chat:p"}).Result()["clients"].(map[string]any)
		if len(p) != 2 {
			t.Fatalf("presence %v", p)
		}
		alice := p[ra["client"].(string)].(map[string]any)
		if alice["user"] != "alice" || ht.JSON(alice["info"]) != `{"name":"Alice"}` {
			t.Fatalf("alice's entry %v", alice)
		}
		st := a.Call(map[string]any{"type": "presence_stats", "channel": "chat:p"}).Result()
		if ht.Num(st["clients"]) != 2 || ht.Num(st["users"]) != 2 {
			t.Fatalf("stats %v", st)
		}

		b.Conn.CloseNow()
		l := a.Push("leave")
		if l["info"].(map[string]any)["user"] != "bob" {
			t.Fatalf("leave %v", l)
		}
		ht.Eventually(t, 2*time.Second, func() bool {
			st := a.Call(map[string]any{"type": "presence_stats", "channel": "chat:p"}).Result()
			return ht.Num(st["clients"]) == 1
		}, "bob leaves presence")
	})
}

func TestPresenceAndHistoryErrors(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{Namespaces: map[string]hub.Namespace{
			"":     {},
			"open": {Presence: true, HistorySize: 5, HistoryTTL: time.Hour, AllowPresence: hub.AccessAny, AllowHistory: hub.AccessAny},
			"subs": {Presence: true, HistorySize: 5, HistoryTTL: time.Hour},
			"shut": {Presence: true, HistorySize: 5, HistoryTTL: time.Hour, AllowPresence: hub.AccessNone, AllowHistory: hub.AccessNone},
		}}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		for _, typ := range []string{"presence", "presence_stats", "history"} {
			cases := []struct {
				channel string
				code    int
			}{
				{"plain", 108},
				{"subs:x", 103},
				{"shut:x", 103},
				{"open:x", 0},
				{"bad name", 107},
				{"unknown:x", 102},
			}
			for _, tc := range cases {
				if r := c.Call(map[string]any{"type": typ, "channel": tc.channel}); r.ErrorCode() != tc.code {
					t.Errorf("%s %s: %v, want %d", typ, tc.channel, r, tc.code)
				}
			}
		}
		c.Call(map[string]any{"type": "subscribe", "channel": "subs:x"})
		if r := c.Call(map[string]any{"type": "history", "channel": "subs:x"}); r.ErrorCode() != 0 {
			t.Fatalf("history as subscriber: %v", r)
		}
	})
}

func TestHistory(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		var epoch string
		for i := 1; i <= 5; i++ {
			epoch = s.MustAPI("publish", map[string]any{"channel": "chat:h", "data": i})["epoch"].(string)
		}
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		offsets := func(r ht.Msg) []int {
			out := []int{}
			for _, p := range r.Result()["publications"].([]any) {
				out = append(out, ht.Num(p.(map[string]any)["offset"]))
			}
			return out
		}
		cases := []struct {
			name string
			cmd  map[string]any
			want string
		}{
			{"all", map[string]any{}, "[1 2 3 4 5]"},
			{"limit", map[string]any{"limit": 2}, "[1 2]"},
			{"reverse", map[string]any{"limit": 2, "reverse": true}, "[5 4]"},
			{"since", map[string]any{"since": map[string]any{"offset": 3, "epoch": epoch}}, "[4 5]"},
			{"since limit", map[string]any{"since": map[string]any{"offset": 1, "epoch": epoch}, "limit": 2}, "[2 3]"},
			{"limit zero", map[string]any{"limit": 0}, "[]"},
		}
		for _, tc := range cases {
			cmd := tc.cmd
			cmd["type"], cmd["channel"] = "history", "chat:h"
			r := c.Call(cmd)
			if got := ht.JSON(offsets(r)); got != ht.JSON(parseInts(tc.want)) {
				t.Errorf("%s: offsets %s, want %s (%v)", tc.name, got, tc.want, r)
			}
			if ht.Num(r.Result()["offset"]) != 5 || r.Result()["epoch"] != epoch {
				t.Errorf("%s: position %v", tc.name, r.Result())
			}
		}
		if r := c.Call(map[string]any{"type": "history", "channel": "chat:h", "since": map[string]any{"offset": 1, "epoch": "old"}}); r.ErrorCode() != 111 {
			t.Fatalf("since with a wrong epoch: %v, want 111", r)
		}
		if r := c.Call(map[string]any{"type": "history", "channel": "chat:h", "limit": -1}); r.ErrorCode() != 107 {
			t.Fatalf("negative limit: %v, want 107", r)
		}
	})
}

func parseInts(s string) []int {
	var out []int
	n, in := 0, false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n, in = n*10+int(r-'0'), true
			continue
		}
		if in {
			out = append(out, n)
		}
		n, in = 0, false
	}
	if out == nil {
		out = []int{}
	}
	return out
}

func TestDirectMessagesAndInbox(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		a, _ := s.Connect(t, ht.Token(t, "alice", nil))
		_, rb := s.Connect(t, ht.Token(t, "bob", nil))
		inbox := rb["inbox"].(map[string]any)

		r := a.Call(map[string]any{"type": "send", "user": "bob", "data": map[string]any{"text": "hi bob"}})
		if r.ErrorCode() != 0 || ht.Num(r.Result()["offset"]) != 1 {
			t.Fatalf("send: %v", r)
		}
		// A second connection of bob, opened after the send, recovers it.
		b2 := s.Dial(t)
		res := b2.Call(map[string]any{"type": "connect", "token": ht.Token(t, "bob", nil), "inbox_since": map[string]any{"offset": 0, "epoch": inbox["epoch"]}}).Result()
		got := res["inbox"].(map[string]any)
		pubs := got["publications"].([]any)
		if got["recovered"] != true || len(pubs) != 1 || ht.JSON(pubs[0].(map[string]any)["data"]) != `{"text":"hi bob"}` {
			t.Fatalf("inbox %v", got)
		}
		// Live: every connection of bob gets the direct push.
		a.Call(map[string]any{"type": "send", "user": "bob", "data": "second"})
		d := b2.Push("direct")
		if from := d["from"].(map[string]any); from["user"] != "alice" || d["data"] != "second" || ht.Num(d["offset"]) != 2 {
			t.Fatalf("direct %v", d)
		}
		// From the server API.
		s.MustAPI("send", map[string]any{"user": "bob", "data": "from server"})
		d = b2.Push("direct")
		if from := d["from"].(map[string]any); from["user"] != "" || from["client"] != "" {
			t.Fatalf("direct from server %v", d)
		}
		if r := a.Call(map[string]any{"type": "send", "data": 1}); r.ErrorCode() != 107 {
			t.Fatalf("send without user: %v", r)
		}
	})
}

func TestAnonymousCannotSend(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{Anonymous: true}})
		c, _ := s.Connect(t, "")
		if r := c.Call(map[string]any{"type": "send", "user": "bob", "data": 1}); r.ErrorCode() != 103 {
			t.Fatalf("anonymous send: %v, want 103", r)
		}
	})
}

// TestLargeReplyIsNotASlowConsumer: a history reply is bounded by the write
// queue's byte bound: one that fits is delivered whole, even into a busy
// queue, never mistaken for a backlog; a larger one is refused with 106
// ("use limit") and the connection stays.
func TestLargeReplyIsNotASlowConsumer(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{WriteQueueBytes: 64 << 10}})
		big := strings.Repeat("x", 8<<10)
		for i := 0; i < 20; i++ {
			s.MustAPI("publish", map[string]any{"channel": "chat:big", "data": big})
		}
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		r := c.Call(map[string]any{"type": "history", "channel": "chat:big"})
		if r.ErrorCode() != 106 {
			t.Fatalf("history over the queue bound: %v, want 106", r)
		}
		for i := 0; i < 5; i++ {
			r = c.Call(map[string]any{"type": "history", "channel": "chat:big", "limit": 6})
			if pubs, _ := r.Result()["publications"].([]any); len(pubs) != 6 {
				t.Fatalf("history reply: %d publications, error %d", len(pubs), r.ErrorCode())
			}
		}
	})
}
