package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

func TestRecovery(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:rec"})
		epoch := r.Result()["epoch"].(string)
		for i := 0; i < 3; i++ {
			s.MustAPI("publish", map[string]any{"channel": "chat:rec", "data": i})
		}
		last := c.Messages("chat:rec", 3)[2]
		c.Conn.CloseNow()
		for i := 3; i < 6; i++ {
			s.MustAPI("publish", map[string]any{"channel": "chat:rec", "data": i})
		}

		t.Run("recovered", func(t *testing.T) {
			c, _ := s.Connect(t, ht.Token(t, "u", nil))
			r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:rec", "since": map[string]any{"offset": last["offset"], "epoch": epoch}})
			res := r.Result()
			pubs := res["publications"].([]any)
			if res["recovered"] != true || len(pubs) != 3 || ht.Num(res["offset"]) != 6 || res["epoch"] != epoch {
				t.Fatalf("result %v", res)
			}
			for i, p := range pubs {
				if ht.Num(p.(map[string]any)["offset"]) != 4+i || ht.Num(p.(map[string]any)["data"]) != 3+i {
					t.Fatalf("publication %d: %v", i, p)
				}
			}
		})
		t.Run("wrong epoch", func(t *testing.T) {
			c, _ := s.Connect(t, ht.Token(t, "u", nil))
			r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:rec", "since": map[string]any{"offset": 3, "epoch": "bogus"}})
			if res := r.Result(); res["recovered"] != false || res["epoch"] != epoch {
				t.Fatalf("result %v", res)
			}
		})
		t.Run("in connect", func(t *testing.T) {
			c := s.Dial(t)
			r := c.Call(map[string]any{"type": "connect", "token": ht.Token(t, "u", nil),
				"subs": map[string]any{"chat:rec": map[string]any{"since": map[string]any{"offset": 5, "epoch": epoch}}, "nope:x": map[string]any{}}})
			subs := r.Result()["subs"].(map[string]any)
			rec := subs["chat:rec"].(map[string]any)
			if rec["recovered"] != true || len(rec["publications"].([]any)) != 1 {
				t.Fatalf("connect subs %v", subs)
			}
			if e := subs["nope:x"].(map[string]any)["error"].(map[string]any); ht.Num(e["code"]) != 102 {
				t.Fatalf("bad channel in connect subs: %v", subs)
			}
		})
		t.Run("too old", func(t *testing.T) {
			for i := 0; i < 10; i++ {
				s.MustAPI("publish", map[string]any{"channel": "news:old", "data": i})
			}
			h := s.MustAPI("history", map[string]any{"channel": "news:old"})
			c, _ := s.Connect(t, ht.Token(t, "u", nil))
			s.MustAPI("publish", map[string]any{"channel": "news:old", "data": 10})
			r := c.Call(map[string]any{"type": "subscribe", "channel": "news:old", "since": map[string]any{"offset": 0, "epoch": h["epoch"]}})
			res := r.Result()
			// Unrecoverable: the client is told, and not sent what is
			// retained unless it asks (history).
			if res["recovered"] != false || res["publications"] != nil || ht.Num(res["offset"]) != 11 {
				t.Fatalf("result %v", res)
			}
		})
	})
}

// TestRecoveryRace subscribes with since while publishers are busy on the
// channel: the reply's publications followed by the live messages must hold
// every offset exactly once, in order.
func TestRecoveryRace(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc})
		for round := 0; round < 20; round++ {
			ch := fmt.Sprintf("chat:race-%d", round)
			first := s.MustAPI("publish", map[string]any{"channel": ch, "data": 0})
			var stop atomic.Bool
			var published atomic.Int64
			published.Store(1)
			var wg sync.WaitGroup
			for p := 0; p < 2; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() && published.Load() < 90 {
						if st, _ := s.API("publish", map[string]any{"channel": ch, "data": 1}); st == 200 {
							published.Add(1)
						}
					}
				}()
			}
			c, _ := s.Connect(t, ht.Token(t, "u", nil))
			r := c.Call(map[string]any{"type": "subscribe", "channel": ch, "since": map[string]any{"offset": 1, "epoch": first["epoch"]}})
			stop.Store(true)
			wg.Wait()
			// A final marker: everything before it must have arrived exactly once.
			end := s.MustAPI("publish", map[string]any{"channel": ch, "data": "end"})
			res := r.Result()
			if res["recovered"] != true {
				t.Fatalf("round %d: not recovered: %v", round, res)
			}
			next := 2
			pubs, _ := res["publications"].([]any) // absent when nothing was missed
			for _, p := range pubs {
				if got := ht.Num(p.(map[string]any)["offset"]); got != next {
					t.Fatalf("round %d: recovered offset %d, want %d", round, got, next)
				}
				next++
			}
			for next <= ht.Num(end["offset"]) {
				m := c.Messages(ch, 1)[0]
				if m.Seq() < r.Seq() {
					t.Fatalf("round %d: message %v arrived before the subscribe reply", round, m)
				}
				if got := ht.Num(m["offset"]); got != next {
					t.Fatalf("round %d: live offset %d, want %d", round, got, next)
				}
				next++
			}
			c.Conn.CloseNow()
		}
	})
}

// bigNamespaces are the default namespaces plus "big", which keeps a long
// history that anyone may publish to.
func bigNamespaces(size int) map[string]hub.Namespace {
	ns := ht.DefaultNamespaces()
	ns["big"] = hub.Namespace{HistorySize: size, HistoryTTL: time.Hour, Recover: true, AllowPublish: hub.AccessAny, AllowHistory: hub.AccessAny}
	return ns
}

// publishN publishes n publications of size bytes of JSON on channel
// through the hub and returns the last result.
func publishN(t *testing.T, s *ht.Server, channel string, n, size int) protocol.PublishResult {
	t.Helper()
	data := []byte(`"` + strings.Repeat("x", size-2) + `"`)
	var res protocol.PublishResult
	for range n {
		var err error
		if res, err = s.Hub.Publish(context.Background(), channel, data, ""); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// TestRecoveryInPages: a subscribe with since over 20,000 publications of
// 1 KB (20 MB, five times the write queue) gets a bounded first page with
// more: true and the last offset it carries, then the rest as message
// pushes, then live messages published during the catch-up: every offset
// once, in order.
func TestRecoveryInPages(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Encoding: enc, Hub: hub.Config{Namespaces: bigNamespaces(30000)}})
		first := publishN(t, s, "big:x", 1, 1000)
		publishN(t, s, "big:x", 19999, 1000)
		c, _ := s.Connect(t, ht.Token(t, "u", nil))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishN(t, s, "big:x", 500, 1000)
		}()
		r := c.Call(map[string]any{"type": "subscribe", "channel": "big:x", "since": map[string]any{"offset": 0, "epoch": first.Epoch}})
		res := r.Result()
		pubs, _ := res["publications"].([]any)
		if res["recovered"] != true || res["more"] != true || len(pubs) == 0 || ht.Num(res["offset"]) != len(pubs) {
			t.Fatalf("first page: recovered %v more %v offset %v, %d publications", res["recovered"], res["more"], res["offset"], len(pubs))
		}
		if len(pubs)*1000 > 4<<20/4 {
			t.Fatalf("first page carries %d publications, over a quarter of the write queue", len(pubs))
		}
		wg.Wait()
		msgs := c.Messages("big:x", 20500-len(pubs))
		for i, m := range msgs {
			if want := len(pubs) + 1 + i; ht.Num(m["offset"]) != want {
				t.Fatalf("push %d: offset %v, want %d", i, m["offset"], want)
			}
		}
		if extra, ok := c.WaitFor(100*time.Millisecond, func(m ht.Msg) bool { return m.Type() == "message" }); ok {
			t.Fatalf("duplicate after the catch-up: %v", extra["offset"])
		}
	})
}

// TestRecoveryPagesHeldOverflow: a small write queue and a busy channel
// during the catch-up make the subscription drop what it held back many
// times over; the catch-up reads it from history instead, and the client
// still gets every offset once, in order.
func TestRecoveryPagesHeldOverflow(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Namespaces: bigNamespaces(30000), WriteQueueMessages: 32, WriteQueueBytes: 32 << 10}})
	first := publishN(t, s, "big:x", 1, 500)
	publishN(t, s, "big:x", 2999, 500)
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		publishN(t, s, "big:x", 2000, 500)
	}()
	r := c.Call(map[string]any{"type": "subscribe", "channel": "big:x", "since": map[string]any{"offset": 0, "epoch": first.Epoch}})
	pubs, _ := r.Result()["publications"].([]any)
	wg.Wait()
	msgs := c.Messages("big:x", 5000-len(pubs))
	for i, m := range msgs {
		if want := len(pubs) + 1 + i; ht.Num(m["offset"]) != want {
			t.Fatalf("push %d: offset %v, want %d", i, m["offset"], want)
		}
	}
}

// TestRecoveryUnrecoverableAnswersWithoutHistory: a since the stream
// cannot continue gets recovered: false, the stream's position, and none
// of the retained publications, however many: the client reloads its state
// and may ask history for what it wants.
func TestRecoveryUnrecoverableAnswersWithoutHistory(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Namespaces: bigNamespaces(5000)}})
	publishN(t, s, "big:x", 6000, 1000)
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	for _, since := range []map[string]any{{"offset": 10, "epoch": "bogus"}, {"offset": 1, "epoch": s.MustAPI("history", map[string]any{"channel": "big:x", "limit": 0})["epoch"]}} {
		res := c.Call(map[string]any{"type": "subscribe", "channel": "big:x", "since": since}).Result()
		if res["recovered"] != false || res["publications"] != nil || res["more"] != nil || ht.Num(res["offset"]) != 6000 {
			t.Fatalf("since %v: %v", since, res)
		}
		c.Call(map[string]any{"type": "unsubscribe", "channel": "big:x"})
	}
}
