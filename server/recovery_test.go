package server_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

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
			if res["recovered"] != true || len(pubs) != 3 || num(res["offset"]) != 6 || res["epoch"] != epoch {
				t.Fatalf("result %v", res)
			}
			for i, p := range pubs {
				if num(p.(map[string]any)["offset"]) != 4+i || num(p.(map[string]any)["data"]) != 3+i {
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
			if e := subs["nope:x"].(map[string]any)["error"].(map[string]any); num(e["code"]) != 102 {
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
			if res["recovered"] != false || len(res["publications"].([]any)) != 10 {
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
				if got := num(p.(map[string]any)["offset"]); got != next {
					t.Fatalf("round %d: recovered offset %d, want %d", round, got, next)
				}
				next++
			}
			for next <= num(end["offset"]) {
				m := c.Messages(ch, 1)[0]
				if m.Seq() < r.Seq() {
					t.Fatalf("round %d: message %v arrived before the subscribe reply", round, m)
				}
				if got := num(m["offset"]); got != next {
					t.Fatalf("round %d: live offset %d, want %d", round, got, next)
				}
				next++
			}
			c.Conn.CloseNow()
		}
	})
}
