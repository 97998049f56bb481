package e2e_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// onEachEngine runs fn on the memory broker and on each cluster engine:
// quotas are the hub's, so they hold whatever keeps the streams.
func onEachEngine(t *testing.T, fn func(t *testing.T, b broker.Broker)) {
	t.Run("memory", func(t *testing.T) {
		b := memory.New(memory.Options{})
		t.Cleanup(func() { b.Close() })
		fn(t, b)
	})
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { fn(t, e.connect(t, "herald-quota-"+randomID())) })
	}
}

// wantTemporary fails unless m is a temporary error 110 saying what.
func wantTemporary(t *testing.T, m ht.Msg, what string) {
	t.Helper()
	e, _ := m["error"].(map[string]any)
	if m.ErrorCode() != 110 || e["temporary"] != true || !strings.Contains(fmt.Sprint(e["message"]), what) {
		t.Fatalf("%v, want a temporary 110 %q", m, what)
	}
}

// TestNewRecipientQuota: one account sending to made-up user names starts
// an inbox with each, which the engine keeps for a day; past its quota
// the account's sends are refused, and nobody else's are.
func TestNewRecipientQuota(t *testing.T) {
	onEachEngine(t, func(t *testing.T, b broker.Broker) {
		s := ht.Start(t, ht.Options{Broker: b, Hub: hub.Config{NewRecipientQuota: 5, PublishRate: -1}})
		mallory, _ := s.Connect(t, ht.Token(t, "mallory", nil))
		alice, _ := s.Connect(t, ht.Token(t, "alice", nil))
		send := func(c *ht.Client, user string) ht.Msg {
			return c.Call(map[string]any{"type": "send", "user": user, "data": map[string]any{"n": 1}})
		}
		made := "made-up-" + randomID() + "-"
		for i := range 5 {
			if r := send(mallory, fmt.Sprint(made, i)); r.ErrorCode() != 0 {
				t.Fatalf("send %d: %v", i, r)
			}
		}
		wantTemporary(t, send(mallory, made+"5"), "too many new recipients")
		wantTemporary(t, send(mallory, made+"0"), "too many new recipients")
		// A connected user surely has an inbox: no new one is started.
		if r := send(mallory, "alice"); r.ErrorCode() != 0 {
			t.Fatalf("send to a connected user: %v", r)
		}
		if r := send(alice, made+"5"); r.ErrorCode() != 0 {
			t.Fatalf("another sender: %v", r)
		}
		// The server API is trusted.
		s.MustAPI("send", map[string]any{"user": made + "7", "data": 1})
		if mb, ok := b.(*memory.Broker); ok {
			// The inboxes of the two users, five made-up ones, alice's
			// and the API's.
			if u := mb.Usage(); u.Streams != 2+5+2 {
				t.Fatalf("usage %+v, want 9 inboxes", u)
			}
		}
	})
}

// TestRetainedBytesCapOnFlood: with the quota off, a flood of sends to
// made-up users stays within the memory broker's cap on retained bytes;
// the users whose inboxes were evicted see recovered: false.
func TestRetainedBytesCapOnFlood(t *testing.T) {
	const capBytes, size = 256 << 10, 10 << 10
	b := memory.New(memory.Options{MaxRetainedBytes: capBytes})
	t.Cleanup(func() { b.Close() })
	s := ht.Start(t, ht.Options{Broker: b, Hub: hub.Config{NewRecipientQuota: -1, PublishRate: -1}})
	bob, res := s.Connect(t, ht.Token(t, "bob", nil))
	inbox := res["inbox"].(map[string]any)
	bob.Conn.CloseNow()
	mallory, _ := s.Connect(t, ht.Token(t, "mallory", nil))
	if r := mallory.Call(map[string]any{"type": "send", "user": "bob", "data": strings.Repeat("b", size)}); r.ErrorCode() != 0 {
		t.Fatalf("send to bob: %v", r)
	}
	for i := range 100 {
		r := mallory.Call(map[string]any{"type": "send", "user": fmt.Sprint("made-up-", i), "data": strings.Repeat("x", size)})
		if r.ErrorCode() != 0 {
			t.Fatalf("send %d: %v", i, r)
		}
		if u := b.Usage(); u.RetainedBytes > capBytes {
			t.Fatalf("after %d sends: %+v, over the cap", i+1, u)
		}
	}
	if u := b.Usage(); u.Evicted == 0 {
		t.Fatalf("nothing evicted: %+v", u)
	}
	c := s.Dial(t)
	r := c.Call(map[string]any{"type": "connect", "token": ht.Token(t, "bob", nil),
		"inbox_since": map[string]any{"offset": 0, "epoch": inbox["epoch"]}})
	got := r.Result()["inbox"].(map[string]any)
	if got["recovered"] != false || got["epoch"] == inbox["epoch"] {
		t.Fatalf("bob's evicted inbox: %v, want recovered: false in a new epoch", got)
	}
}

// TestNewChannelQuota: publishing to, subscribing to and reading fresh
// channels that keep history each start a stream; past the quota those
// commands are refused, on channels without history they are not.
func TestNewChannelQuota(t *testing.T) {
	onEachEngine(t, func(t *testing.T, b broker.Broker) {
		s := ht.Start(t, ht.Options{Broker: b, Hub: hub.Config{NewChannelQuota: 4, PublishRate: -1, ReadRate: -1}})
		mallory, _ := s.Connect(t, ht.Token(t, "mallory", nil))
		alice, _ := s.Connect(t, ht.Token(t, "alice", nil))
		ch := "chat:" + randomID() + "-"
		call := func(c *ht.Client, typ, channel string) ht.Msg {
			cmd := map[string]any{"type": typ, "channel": channel}
			if typ == "publish" {
				cmd["data"] = map[string]any{"n": 1}
			}
			return c.Call(cmd)
		}
		for i, typ := range []string{"publish", "publish", "subscribe", "history"} {
			if r := call(mallory, typ, fmt.Sprint(ch, i)); r.ErrorCode() != 0 {
				t.Fatalf("%s %d: %v", typ, i, r)
			}
		}
		// The quota is spent: what could start a stream is refused, even
		// on a channel whose stream the user started (the hub cannot tell
		// it still exists)...
		for _, typ := range []string{"publish", "subscribe", "history"} {
			wantTemporary(t, call(mallory, typ, ch+"new-"+typ), "too many new channels")
		}
		wantTemporary(t, call(mallory, "publish", ch+"0"), "too many new channels")
		// ...but not on a channel with subscribers here, whose stream is
		// there.
		for _, typ := range []string{"publish", "history"} {
			if r := call(mallory, typ, ch+"2"); r.ErrorCode() != 0 {
				t.Fatalf("%s on a subscribed channel: %v", typ, r)
			}
		}
		if r := call(mallory, "publish", "plain-"+randomID()); r.ErrorCode() != 103 && r.ErrorCode() != 0 {
			t.Fatalf("publish without history: %v", r)
		}
		if r := call(mallory, "subscribe", "plain-"+randomID()); r.ErrorCode() != 0 {
			t.Fatalf("subscribe without history: %v", r)
		}
		if r := call(alice, "publish", ch+"alice"); r.ErrorCode() != 0 {
			t.Fatalf("another user: %v", r)
		}
		s.MustAPI("publish", map[string]any{"channel": ch + "api", "data": 1})
	})
}

// TestInboxPerSender: one sender cannot push the messages of others out of
// a user's inbox by flooding it.
func TestInboxPerSender(t *testing.T) {
	onEachEngine(t, func(t *testing.T, b broker.Broker) {
		s := ht.Start(t, ht.Options{Broker: b, Hub: hub.Config{InboxPerSender: 3, PublishRate: -1}})
		victim := "victim-" + randomID()
		v, res := s.Connect(t, ht.Token(t, victim, nil))
		epoch := res["inbox"].(map[string]any)["epoch"]
		v.Conn.CloseNow()
		alice, _ := s.Connect(t, ht.Token(t, "alice", nil))
		mallory, _ := s.Connect(t, ht.Token(t, "mallory", nil))
		send := func(c *ht.Client, data string) ht.Msg {
			return c.Call(map[string]any{"type": "send", "user": victim, "data": data})
		}
		for _, d := range []string{"a1", "a2"} {
			if r := send(alice, d); r.ErrorCode() != 0 {
				t.Fatalf("alice: %v", r)
			}
		}
		sent := 0
		for i := range 20 {
			r := send(mallory, fmt.Sprint("m", i))
			if r.ErrorCode() != 0 {
				wantTemporary(t, r, "too many messages to this user")
				continue
			}
			sent++
		}
		if sent != 3 {
			t.Fatalf("mallory got %d messages in, want 3", sent)
		}
		if r := mallory.Call(map[string]any{"type": "send", "user": "someone-else-" + randomID(), "data": "x"}); r.ErrorCode() != 0 {
			t.Fatalf("mallory to someone else: %v", r)
		}
		if r := send(alice, "a3"); r.ErrorCode() != 0 {
			t.Fatalf("alice after the flood: %v", r)
		}
		c := s.Dial(t)
		r := c.Call(map[string]any{"type": "connect", "token": ht.Token(t, victim, nil),
			"inbox_since": map[string]any{"offset": 0, "epoch": epoch}})
		got := r.Result()["inbox"].(map[string]any)
		var from []string
		for _, p := range got["publications"].([]any) {
			from = append(from, fmt.Sprint(p.(map[string]any)["data"]))
		}
		if got["recovered"] != true || fmt.Sprint(from) != "[a1 a2 m0 m1 m2 a3]" {
			t.Fatalf("the victim's inbox: %v (%v)", from, got)
		}
		// An answer makes it a conversation: the sender's bucket refills.
		if r := c.Call(map[string]any{"type": "send", "user": "mallory", "data": "hi"}); r.ErrorCode() != 0 {
			t.Fatalf("the victim answers: %v", r)
		}
		for i := range 3 {
			if r := send(mallory, fmt.Sprint("after-", i)); r.ErrorCode() != 0 {
				t.Fatalf("mallory after the answer, %d: %v", i, r)
			}
		}
		wantTemporary(t, send(mallory, "more"), "too many messages to this user")
	})
}

// TestEvictedChannelRecoversFalse: a channel the memory broker evicted to
// stay under its cap comes back with a new epoch, and a client that was
// behind in it is told it cannot recover.
func TestEvictedChannelRecoversFalse(t *testing.T) {
	b := memory.New(memory.Options{MaxStreams: 20})
	t.Cleanup(func() { b.Close() })
	s := ht.Start(t, ht.Options{Broker: b})
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	epoch := c.Call(map[string]any{"type": "subscribe", "channel": "chat:kept"}).Result()["epoch"]
	s.MustAPI("publish", map[string]any{"channel": "chat:kept", "data": 1})
	last := c.Messages("chat:kept", 1)[0]
	c.Conn.CloseNow()
	for i := range 30 {
		s.MustAPI("publish", map[string]any{"channel": fmt.Sprint("chat:other-", i), "data": 1})
	}
	if u := b.Usage(); u.Evicted == 0 || u.Streams > 20 {
		t.Fatalf("usage %+v", u)
	}
	c, _ = s.Connect(t, ht.Token(t, "u", nil))
	res := c.Call(map[string]any{"type": "subscribe", "channel": "chat:kept",
		"since": map[string]any{"offset": last["offset"], "epoch": epoch}}).Result()
	if res["recovered"] != false || res["epoch"] == epoch || ht.Num(res["offset"]) != 0 {
		t.Fatalf("after eviction: %v, want recovered: false in a new epoch", res)
	}
}

// TestInboxPerSenderDefault: by default a sender may leave a quarter of
// inbox.size unanswered, but never fewer than 10 (the whole of this
// fixture's inbox of 10).
func TestInboxPerSenderDefault(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{PublishRate: -1}})
	c, _ := s.Connect(t, ht.Token(t, "mallory", nil))
	for i := range 10 {
		if r := c.Call(map[string]any{"type": "send", "user": "victim", "data": i}); r.ErrorCode() != 0 {
			t.Fatalf("send %d: %v", i, r)
		}
	}
	wantTemporary(t, c.Call(map[string]any{"type": "send", "user": "victim", "data": 10}), "too many messages to this user")
}
