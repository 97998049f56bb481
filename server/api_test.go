package server_test

import (
	"strings"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

func TestAPITransportErrors(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{APIBodySize: 1024}})
	cases := []struct {
		name   string
		method string
		key    string
		body   any
		status int
	}{
		{"no key", "info", "", nil, 401},
		{"bad key", "info", "wrong-key-wrong-key", nil, 401},
		{"unknown method", "frobnicate", ht.APIKey, "{}", 404},
		{"malformed JSON", "publish", ht.APIKey, "{", 400},
		{"too large", "publish", ht.APIKey, `{"channel":"chat:x","data":"` + strings.Repeat("a", 2000) + `"}`, 413},
		{"empty body", "info", ht.APIKey, nil, 200},
	}
	for _, tc := range cases {
		if status, body := s.APIRaw(tc.method, tc.key, tc.body); status != tc.status {
			t.Errorf("%s: status %d (%s), want %d", tc.name, status, body, tc.status)
		}
	}
}

func TestAPIMethodErrors(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cases := []struct {
		method string
		body   map[string]any
		code   int
	}{
		{"publish", map[string]any{"channel": "chat:x"}, 107},
		{"publish", map[string]any{"channel": "bad name", "data": 1}, 107},
		{"publish", map[string]any{"channel": "nope:x", "data": 1}, 102},
		{"publish", map[string]any{"channel": "chat:x", "data": 1, "b64data": "AQ=="}, 107},
		{"publish", map[string]any{"channel": "chat:x", "b64data": "***"}, 107},
		{"send", map[string]any{"data": 1}, 107},
		{"subscribe", map[string]any{"channel": "chat:x"}, 107},
		{"disconnect", map[string]any{}, 107},
		{"disconnect", map[string]any{"user": "u", "code": 1000}, 107},
		{"presence", map[string]any{"channel": "plain"}, 108},
		{"history", map[string]any{"channel": "plain"}, 108},
		{"broadcast", map[string]any{"data": 1}, 107},
	}
	for _, tc := range cases {
		status, out := s.API(tc.method, tc.body)
		e, _ := out["error"].(map[string]any)
		if status != 200 || ht.Num(e["code"]) != tc.code {
			t.Errorf("%s %v: %d %v, want error %d", tc.method, tc.body, status, out, tc.code)
		}
	}
}

func TestAPIPublishAndBroadcast(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:a"})
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:b"})

		r := s.MustAPI("publish", map[string]any{"channel": "chat:a", "b64data": "AAEC"})
		if ht.Num(r["offset"]) != 1 {
			t.Fatalf("publish %v", r)
		}
		m := c.Messages("chat:a", 1)[0]
		if m["b64"] != "AAEC" || m["data"] != nil || m["info"] != nil {
			t.Fatalf("binary publication %v", m)
		}

		r = s.MustAPI("broadcast", map[string]any{"channels": []string{"chat:a", "chat:b", "nope:x"}, "data": "all"})
		results := r["results"].([]any)
		if ht.Num(results[0].(map[string]any)["offset"]) != 2 || ht.Num(results[1].(map[string]any)["offset"]) != 1 ||
			ht.Num(results[2].(map[string]any)["error"].(map[string]any)["code"]) != 102 {
			t.Fatalf("broadcast %v", r)
		}
		c.Messages("chat:a", 1)
		c.Messages("chat:b", 1)
	})
}

func TestAPIIdempotency(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:i"})
		body := map[string]any{"channel": "chat:i", "data": "once", "idempotency_key": "k1"}
		first := s.MustAPI("publish", body)
		second := s.MustAPI("publish", body)
		if ht.JSON(first) != ht.JSON(second) {
			t.Fatalf("repeat answered %v, first %v", second, first)
		}
		s.MustAPI("publish", map[string]any{"channel": "chat:i", "data": "marker"})
		msgs := c.Messages("chat:i", 2)
		if msgs[0]["data"] != "once" || msgs[1]["data"] != "marker" {
			t.Fatalf("delivered %v", msgs)
		}
	})
}

func TestAPIUserActions(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		a1, _ := s.Connect(t, ht.Token(t, "alice", nil))
		a2, _ := s.Connect(t, ht.Token(t, "alice", nil))
		bob, _ := s.Connect(t, ht.Token(t, "bob", nil))

		s.MustAPI("subscribe", map[string]any{"user": "alice", "channel": "chat:srv"})
		for _, c := range []*ht.Client{a1, a2} {
			p := c.Push("subscribed")
			if p["channel"] != "chat:srv" || p["epoch"] == nil {
				t.Fatalf("subscribed push %v", p)
			}
		}
		s.MustAPI("publish", map[string]any{"channel": "chat:srv", "data": 1})
		a1.Messages("chat:srv", 1)
		a2.Messages("chat:srv", 1)

		s.MustAPI("unsubscribe", map[string]any{"user": "alice", "channel": "chat:srv"})
		if p := a1.Push("unsubscribed"); p["channel"] != "chat:srv" || p["code"] == nil {
			t.Fatalf("unsubscribed push %v", p)
		}
		a2.Push("unsubscribed")

		s.MustAPI("disconnect", map[string]any{"user": "alice"})
		a1.ExpectClose(4502)
		a2.ExpectClose(4502)
		s.MustAPI("disconnect", map[string]any{"user": "bob", "code": 4000, "reason": "please reconnect"})
		d := bob.Push("disconnect")
		if ht.Num(d["code"]) != 4000 || d["reconnect"] != true || d["reason"] != "please reconnect" {
			t.Fatalf("disconnect push %v", d)
		}
	})
}

func TestAPIReads(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, res := s.Connect(t, ht.Token(t, "alice", nil))
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:r"})
		c.Call(map[string]any{"type": "subscribe", "channel": "plain"})
		s.MustAPI("publish", map[string]any{"channel": "chat:r", "data": 1})
		s.MustAPI("publish", map[string]any{"channel": "chat:r", "data": 2})

		p := s.MustAPI("presence", map[string]any{"channel": "chat:r"})["clients"].(map[string]any)
		if _, ok := p[res["client"].(string)]; !ok || len(p) != 1 {
			t.Fatalf("presence %v", p)
		}
		if st := s.MustAPI("presence_stats", map[string]any{"channel": "chat:r"}); ht.Num(st["users"]) != 1 {
			t.Fatalf("stats %v", st)
		}
		h := s.MustAPI("history", map[string]any{"channel": "chat:r", "limit": 1, "reverse": true})
		if pubs := h["publications"].([]any); len(pubs) != 1 || ht.Num(pubs[0].(map[string]any)["data"]) != 2 {
			t.Fatalf("history %v", h)
		}
		chans := s.MustAPI("channels", map[string]any{})["channels"].(map[string]any)
		if len(chans) != 2 || ht.Num(chans["chat:r"].(map[string]any)["clients"]) != 1 {
			t.Fatalf("channels %v", chans)
		}
		chans = s.MustAPI("channels", map[string]any{"pattern": "chat:*"})["channels"].(map[string]any)
		if len(chans) != 1 {
			t.Fatalf("channels chat:* %v", chans)
		}
		nodes := s.MustAPI("info", nil)["nodes"].([]any)
		n := nodes[0].(map[string]any)
		if ht.Num(n["clients"]) != 1 || ht.Num(n["users"]) != 1 || ht.Num(n["channels"]) != 2 || ht.Num(n["subs"]) != 2 {
			t.Fatalf("info %v", n)
		}

		old := h["epoch"]
		s.MustAPI("history_remove", map[string]any{"channel": "chat:r"})
		h = s.MustAPI("history", map[string]any{"channel": "chat:r"})
		if h["epoch"] == old || len(h["publications"].([]any)) != 0 {
			t.Fatalf("after history_remove %v", h)
		}
		// The live subscriber cannot follow a restarted stream (message pushes
		// carry no epoch): it is asked to reconnect and recover.
		s.MustAPI("publish", map[string]any{"channel": "chat:r", "data": 3})
		c.ExpectClose(4000)
	})
}

func TestHealth(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	if code, _ := s.HTTPGet("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := s.HTTPGet("/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	_ = time.Second
}

// TestServerSubscribeRacingClose: a server-side subscribe that races the
// client's disconnect must not leave the subscription behind.
func TestServerSubscribeRacingClose(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		for i := 0; i < 30; i++ {
			c, _ := s.Connect(t, ht.Token(t, "racer", nil))
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.API("subscribe", map[string]any{"user": "racer", "channel": "chat:race"})
			}()
			c.Conn.CloseNow()
			<-done
		}
		ht.Eventually(t, 5*time.Second, func() bool {
			return len(s.Hub.Channels("")) == 0 && s.Hub.Info().Subs == 0
		}, "subscriptions left behind: %v", s.Hub.Channels(""))
	})
}

// TestAPIPublishPrettyJSON: data with newlines (pretty-printed JSON in an
// API body) reaches JSON clients as one line, since their frames are one
// message per line, and nothing after it is garbled.
func TestAPIPublishPrettyJSON(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	c.Call(map[string]any{"type": "subscribe", "channel": "chat:a"})
	body := "{\"channel\": \"chat:a\",\n \"data\": {\n  \"text\": \"two\\nlines\",\n  \"n\": [1,\r\n 2]\n }\n}"
	if status, out := s.APIRaw("publish", ht.APIKey, body); status != 200 {
		t.Fatalf("publish: %d %s", status, out)
	}
	s.MustAPI("publish", map[string]any{"channel": "chat:a", "data": "after"})
	msgs := c.Messages("chat:a", 2)
	data, _ := msgs[0]["data"].(map[string]any)
	if data["text"] != "two\nlines" || len(data["n"].([]any)) != 2 || msgs[1]["data"] != "after" {
		t.Fatalf("messages %v", msgs)
	}
}
