package e2e_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// The hub's limits on what a connected client may do, as the client sees
// them: rates, heartbeats, token expiry, sizes and depths. The transport's
// limits (frame sizes, connection counts, handshakes) are tested in server.

// TestRateLimit: past the command burst, commands are refused with 110
// and the connection lives on, until RateLimitStrikes refusals in a row
// close it with 4004.
func TestRateLimit(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{CommandRate: 0.01, CommandBurst: 3, RateLimitStrikes: 5}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		var codes []int
		for i := 0; i < 7; i++ {
			codes = append(codes, c.Call(map[string]any{"type": "presence_stats", "channel": "chat:x"}).ErrorCode())
		}
		want := "[0 0 0 110 110 110 110]"
		if fmt.Sprint(codes) != want {
			t.Fatalf("codes %v, want %s", codes, want)
		}
		// The fifth strike in a row closes the connection.
		c.Send(map[string]any{"id": 100, "type": "presence_stats", "channel": "chat:x"})
		c.ExpectClose(4004)
		s.StillServes(t)
	})
}

// TestHeartbeat: the server pings every PingInterval; a client that
// answers with pong stays, one that does not is closed with 4002.
func TestHeartbeat(t *testing.T) {
	waitsOnClock(t)
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		waitsOnClock(t)
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{PingInterval: 100 * time.Millisecond, PongTimeout: time.Second}})
		t.Run("answered", func(t *testing.T) {
			c, res := s.Connect(t, ht.Token(t, "u", nil))
			if ht.Num(res["ping"]) != 0 {
				t.Fatalf("ping %v: whole seconds, rounded down", res["ping"])
			}
			for i := 0; i < 4; i++ {
				c.Push("ping")
				c.Send(map[string]any{"type": "pong"})
			}
			if r := c.Call(map[string]any{"type": "presence_stats", "channel": "chat:x"}); r.ErrorCode() != 0 {
				t.Fatalf("connection unusable after pongs: %v", r)
			}
		})
		t.Run("unanswered", func(t *testing.T) {
			c, _ := s.Connect(t, ht.Token(t, "u", nil))
			c.Push("ping")
			c.ExpectClose(4002)
		})
	})
}

// TestTokenExpiry: RefreshNotice before its token expires a client is told
// refresh_needed; a refresh with the same user's token extends the
// connection, and one never refreshed is closed with 4003.
func TestTokenExpiry(t *testing.T) {
	waitsOnClock(t)
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		waitsOnClock(t)
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{RefreshNotice: time.Second}})
		exp := time.Now().Add(1500*time.Millisecond).Unix() + 1
		c, _ := s.Connect(t, ht.Token(t, "u", map[string]any{"exp": exp}))
		rn := c.Push("refresh_needed")
		if int64(ht.Num(rn["expires"])) != exp {
			t.Fatalf("refresh_needed %v", rn)
		}
		t.Run("refresh extends", func(t *testing.T) {
			newExp := time.Now().Add(time.Hour).Unix()
			r := c.Call(map[string]any{"type": "refresh", "token": ht.Token(t, "u", map[string]any{"exp": newExp})})
			if int64(ht.Num(r.Result()["expires"])) != newExp {
				t.Fatalf("refresh %v", r)
			}
			if r := c.Call(map[string]any{"type": "refresh", "token": ht.Token(t, "someone-else", nil)}); r.ErrorCode() != 101 {
				t.Fatalf("refresh as another user: %v", r)
			}
		})
		t.Run("unrefreshed closes 4003", func(t *testing.T) {
			exp := time.Now().Add(time.Second).Unix() + 1
			c, _ := s.Connect(t, ht.Token(t, "v", map[string]any{"exp": exp}))
			c.ExpectClose(4003)
		})
	})
}

// TestPublishRate: publishes have their own bucket within the command
// rate; over it they get 110 (temporary), other commands still run, and
// strikes in a row close with 4004.
func TestPublishRate(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{PublishRate: 0.01, PublishBurst: 2, RateLimitStrikes: 3}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		pub := func() ht.Msg {
			return c.Call(map[string]any{"type": "publish", "channel": "chat:r", "data": map[string]any{"n": 1}})
		}
		for i := 0; i < 2; i++ {
			if r := pub(); r.ErrorCode() != 0 {
				t.Fatalf("publish %d: %v", i, r)
			}
		}
		r := pub()
		if e, _ := r["error"].(map[string]any); r.ErrorCode() != 110 || e["temporary"] != true {
			t.Fatalf("over the publish rate: %v, want temporary 110", r)
		}
		if r := c.Call(map[string]any{"type": "send", "user": "v", "data": 1}); r.ErrorCode() != 110 {
			t.Fatalf("send shares the publish bucket: %v", r)
		}
		// Other commands are not publishes; one that runs resets the strikes.
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:r"}); r.ErrorCode() != 0 {
			t.Fatalf("subscribe while publish-limited: %v", r)
		}
		pub()
		pub()
		c.Send(map[string]any{"id": 99, "type": "publish", "channel": "chat:r", "data": 1})
		c.ExpectClose(4004)
		s.StillServes(t)
	})
}

// TestReadRate: presence, presence_stats and history share a bucket.
func TestReadRate(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{ReadRate: 0.01, ReadBurst: 3}})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		var codes []int
		for _, typ := range []string{"presence", "presence_stats", "history", "history", "presence"} {
			codes = append(codes, c.Call(map[string]any{"type": typ, "channel": "chat:r"}).ErrorCode())
		}
		if fmt.Sprint(codes) != "[0 0 0 110 110]" {
			t.Fatalf("codes %v", codes)
		}
		if r := c.Call(map[string]any{"type": "publish", "channel": "chat:r", "data": 1}); r.ErrorCode() != 0 {
			t.Fatalf("publish while read-limited: %v", r)
		}
		s.StillServes(t)
	})
}

// TestChannelPublishRate: a namespace's publish_rate holds for all the
// channel's client publishers together, each channel apart, and not for
// the server API.
func TestChannelPublishRate(t *testing.T) {
	ns := ht.DefaultNamespaces()
	ns["limited"] = hub.Namespace{AllowPublish: hub.AccessAny, PublishRate: 0.01, PublishBurst: 2}
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{Namespaces: ns}})
		a, _ := s.Connect(t, ht.Token(t, "a", nil))
		b, _ := s.Connect(t, ht.Token(t, "b", nil))
		pub := func(c *ht.Client, ch string) int {
			return c.Call(map[string]any{"type": "publish", "channel": ch, "data": 1}).ErrorCode()
		}
		codes := []int{pub(a, "limited:x"), pub(b, "limited:x"), pub(a, "limited:x"), pub(b, "limited:x"), pub(b, "limited:y")}
		if fmt.Sprint(codes) != "[0 0 110 110 0]" {
			t.Fatalf("codes %v", codes)
		}
		s.MustAPI("publish", map[string]any{"channel": "limited:x", "data": 1})
		s.StillServes(t)
	})
}

// TestMaxPresenceMembers: presence lists at most MaxPresenceMembers
// clients, the smallest ids, to clients and the API; presence_stats counts
// everyone.
func TestMaxPresenceMembers(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{MaxPresenceMembers: 2}})
		var ids []string
		var first *ht.Client
		for i := 0; i < 4; i++ {
			c, res := s.Connect(t, ht.Token(t, fmt.Sprint("u", i), nil))
			c.Call(map[string]any{"type": "subscribe", "channel": "chat:p"})
			ids = append(ids, res["client"].(string))
			if first == nil {
				first = c
			}
		}
		slices.Sort(ids)
		want := fmt.Sprint(ids[:2])
		r := first.Call(map[string]any{"type": "presence", "channel": "chat:p"})
		if got := fmt.Sprint(slices.Sorted(maps.Keys(r.Result()["clients"].(map[string]any)))); got != want {
			t.Fatalf("presence lists %s, want %s", got, want)
		}
		api := s.MustAPI("presence", map[string]any{"channel": "chat:p"})
		if got := fmt.Sprint(slices.Sorted(maps.Keys(api["clients"].(map[string]any)))); got != want {
			t.Fatalf("API presence lists %s, want %s", got, want)
		}
		st := first.Call(map[string]any{"type": "presence_stats", "channel": "chat:p"}).Result()
		if ht.Num(st["clients"]) != 4 || ht.Num(st["users"]) != 4 {
			t.Fatalf("presence_stats %v, want 4 and 4", st)
		}
	})
}

// TestFrameCommandLimit: a frame batching more than MaxFrameCommands
// commands is refused whole with 4500; one at the limit runs.
func TestFrameCommandLimit(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{MaxFrameCommands: 3}})
		frame := func(cmds ...*protocol.Command) []byte {
			var b []byte
			for i, cmd := range cmds {
				if i > 0 {
					b = append(b, enc.Separator()...)
				}
				b, _ = enc.AppendCommand(b, cmd)
			}
			return b
		}
		pubCmd := func(id uint32) *protocol.Command {
			return &protocol.Command{ID: id, Type: "publish", Channel: "chat:batch", Data: []byte(`1`)}
		}
		c := s.Dial(t)
		c.Send(frame(&protocol.Command{ID: 1, Type: "connect", Token: ht.Token(t, "u", nil)}, pubCmd(2), pubCmd(3)))
		for id := 1; id <= 3; id++ {
			if r := c.Wait(func(m ht.Msg) bool { return m.ID() == id }, "reply %d", id); r.ErrorCode() != 0 {
				t.Fatalf("reply %v", r)
			}
		}
		c.Send(frame(pubCmd(4), pubCmd(5), pubCmd(6), pubCmd(7)))
		c.ExpectClose(4500)
		if !strings.Contains(c.CloseReason, "too many commands") {
			t.Fatalf("close reason %q", c.CloseReason)
		}
		h := s.MustAPI("history", map[string]any{"channel": "chat:batch"})
		if n := len(h["publications"].([]any)); n != 2 {
			t.Fatalf("%d publications, want 2: none of the refused frame runs", n)
		}
		s.StillServes(t)
	})
}

// TestDataDepth: JSON data nested past MaxDataDepth is refused with 107 and
// the connection lives on; Protobuf data is opaque and passes.
func TestDataDepth(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{MaxDataDepth: 8}})
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	call := func(typ, data string) int {
		cmd := `{"id":7,"type":"` + typ + `","channel":"chat:d","user":"v","data":` + data + `}`
		c.Send(cmd)
		return c.Wait(func(m ht.Msg) bool { return m.ID() == 7 }, "reply").ErrorCode()
	}
	if code := call("publish", ht.NestedJSON(8)); code != 0 {
		t.Fatalf("depth 8: %d", code)
	}
	if code := call("publish", `{"s":"[[[[[[[[[[[[","a":[1]}`); code != 0 {
		t.Fatalf("brackets in a string counted: %d", code)
	}
	if code := call("publish", ht.NestedJSON(9)); code != 107 {
		t.Fatalf("publish depth 9: %d, want 107", code)
	}
	if code := call("send", `{"a":`+ht.NestedJSON(9)+`}`); code != 107 {
		t.Fatalf("send depth 10: %d, want 107", code)
	}
	pb := ht.Start(t, ht.Options{Encoding: protocol.Protobuf, Hub: hub.Config{MaxDataDepth: 8}})
	p, _ := pb.Connect(t, ht.Token(t, "u", nil))
	if r := p.Call(map[string]any{"type": "publish", "channel": "chat:d", "data": json.RawMessage(ht.NestedJSON(20))}); r.ErrorCode() != 0 {
		t.Fatalf("protobuf data inspected: %v", r)
	}
	s.StillServes(t)
}

// TestHugeNumbersPassThrough: data is opaque; numbers no float or int can
// hold reach subscribers byte for byte.
func TestHugeNumbersPassThrough(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	sub := ht.DialRaw(t, s.Addr(), "/ws", nil)
	sub.WriteText([]byte(`{"id":1,"type":"connect","token":"` + ht.Token(t, "s", nil) + `"}` + "\n" + `{"id":2,"type":"subscribe","channel":"chat:n"}`))
	data := `{"big":123456789012345678901234567890,"tiny":1e-400,"huge":-9.99e999}`
	waitText := func(want string) string {
		for {
			f, err := sub.ReadFrame(5 * time.Second)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if strings.Contains(string(f.Payload), want) {
				return string(f.Payload)
			}
		}
	}
	waitText(`"id":2`)
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	c.Send(`{"id":1,"type":"publish","channel":"chat:n","data":` + data + `}`)
	if r := c.Wait(func(m ht.Msg) bool { return m.ID() == 1 }, "publish reply"); r.ErrorCode() != 0 {
		t.Fatalf("publish: %v", r)
	}
	if got := waitText(`"type":"message"`); !strings.Contains(got, `"data":`+data) {
		t.Fatalf("message %s does not carry %s unchanged", got, data)
	}
}

// TestHistoryLimitBounds: a limit past the history size is clamped, a
// negative one is 107, and one no integer holds is a malformed command.
func TestHistoryLimitBounds(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	for i := 0; i < 3; i++ {
		c.Call(map[string]any{"type": "publish", "channel": "chat:h", "data": i})
	}
	r := c.Call(map[string]any{"type": "history", "channel": "chat:h", "limit": 1 << 40})
	if pubs, _ := r.Result()["publications"].([]any); len(pubs) != 3 {
		t.Fatalf("huge limit: %v", r)
	}
	if r := c.Call(map[string]any{"type": "history", "channel": "chat:h", "limit": -1}); r.ErrorCode() != 107 {
		t.Fatalf("negative limit: %v, want 107", r)
	}
	c.Send(`{"id":50,"type":"history","channel":"chat:h","limit":1e30}`)
	c.ExpectClose(4500)
	s.StillServes(t)
}
