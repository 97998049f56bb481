package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { removeHeraldBin() }))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// fastBackoff keeps reconnect tests quick.
var fastBackoff = client.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}

// inbox collects what a subscription delivers, for assertions.
type inbox struct {
	mu   sync.Mutex
	cond *sync.Cond
	msgs []client.Message
	lost []client.RecoveryLost
}

func newInbox() *inbox {
	b := &inbox{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *inbox) opts() client.SubscribeOptions {
	return client.SubscribeOptions{
		OnMessage: func(m client.Message) {
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.cond.Broadcast()
			b.mu.Unlock()
		},
		OnRecoveryLost: func(r client.RecoveryLost) {
			b.mu.Lock()
			b.lost = append(b.lost, r)
			b.mu.Unlock()
		},
	}
}

// wait returns the messages once there are n, failing after d.
func (b *inbox) wait(t *testing.T, n int, d time.Duration) []client.Message {
	t.Helper()
	ht.Eventually(t, d, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.msgs) >= n
	}, "%d messages (have %d: %s)", n, b.count(), b.describe())
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]client.Message(nil), b.msgs...)
}

func (b *inbox) count() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.msgs) }

// describe summarizes the offsets received, for failure messages.
func (b *inbox) describe() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.msgs) == 0 {
		return "none"
	}
	out := fmt.Sprintf("first %d", b.msgs[0].Offset)
	for i := 1; i < len(b.msgs); i++ {
		if b.msgs[i].Offset != b.msgs[i-1].Offset+1 {
			out += fmt.Sprintf(", jump %d→%d", b.msgs[i-1].Offset, b.msgs[i].Offset)
		}
	}
	return out + fmt.Sprintf(", last %d, lost %v", b.msgs[len(b.msgs)-1].Offset, b.lost)
}

// checkSequence asserts offsets 1..n exactly once, in order.
func checkSequence(t *testing.T, msgs []client.Message, n int) {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if m.Offset != uint64(i+1) {
			t.Fatalf("message %d has offset %d (gap or duplicate)", i, m.Offset)
		}
	}
}

func TestSubscribePublish(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		c, err := client.Dial(ctx(t), s.WSURL, client.Options{Encoding: enc, Token: ht.Token(t, "alice", nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		sub, err := c.Subscribe(ctx(t), "chat:a", b.opts())
		if err != nil {
			t.Fatal(err)
		}
		pos, err := c.Publish(ctx(t), "chat:a", []byte(`{"text":"hi"}`))
		if err != nil || pos.Offset != 1 {
			t.Fatalf("publish: %v %v", pos, err)
		}
		m := b.wait(t, 1, 5*time.Second)[0]
		if string(m.Data) != `{"text":"hi"}` || m.Info.User != "alice" || m.Channel != "chat:a" {
			t.Fatalf("message %+v", m)
		}
		if sub.Position().Offset != 1 {
			t.Fatalf("position %v", sub.Position())
		}
		// Binary data published through the API arrives decoded.
		s.MustAPI("publish", map[string]any{"channel": "chat:a", "b64data": "AAEC"})
		if m := b.wait(t, 2, 5*time.Second)[1]; string(m.Data) != "\x00\x01\x02" {
			t.Fatalf("binary message %q", m.Data)
		}

		if _, err := c.Subscribe(ctx(t), "chat:a", client.SubscribeOptions{}); !isCode(err, 105) {
			t.Fatalf("second subscribe: %v", err)
		}
		if _, err := c.Subscribe(ctx(t), "nope:a", client.SubscribeOptions{}); !isCode(err, 102) {
			t.Fatalf("unknown namespace: %v", err)
		}
		_, err = c.Publish(ctx(t), "news:x", []byte(`1`))
		var e *client.Error
		if !errors.As(err, &e) || e.Code != 103 || e.Temporary() {
			t.Fatalf("forbidden publish: %v", err)
		}
		if st, err := c.PresenceStats(ctx(t), "chat:a"); err != nil || st.Users != 1 {
			t.Fatalf("presence stats %v %v", st, err)
		}
		if p, err := c.Presence(ctx(t), "chat:a"); err != nil || len(p) != 1 {
			t.Fatalf("presence %v %v", p, err)
		}
		limit := 1
		pubs, hpos, err := c.History(ctx(t), "chat:a", client.HistoryOptions{Limit: &limit, Reverse: true})
		if err != nil || len(pubs) != 1 || pubs[0].Offset != 2 || hpos.Offset != 2 {
			t.Fatalf("history %v %v %v", pubs, hpos, err)
		}
		if err := sub.Unsubscribe(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if st, _ := c.PresenceStats(ctx(t), "chat:a"); st.Clients != 0 {
			t.Fatalf("still present after unsubscribe: %v", st)
		}
	})
}

func isCode(err error, code protocol.ErrorCode) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == code
}

func TestConcurrentCalls(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		c, err := client.Dial(ctx(t), s.WSURL, client.Options{Encoding: enc, Token: ht.Token(t, "u", nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var wg sync.WaitGroup
		offsets := make(chan uint64, 200)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 25; j++ {
					pos, err := c.Publish(ctx(t), "chat:many", []byte(`1`))
					if err != nil {
						t.Error(err)
						return
					}
					offsets <- pos.Offset
				}
			}()
		}
		wg.Wait()
		close(offsets)
		seen := map[uint64]bool{}
		for o := range offsets {
			if seen[o] {
				t.Fatalf("offset %d twice: replies crossed", o)
			}
			seen[o] = true
		}
		if len(seen) != 200 {
			t.Fatalf("%d publishes", len(seen))
		}
	})
}

func TestDialRefused(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	start := time.Now()
	_, err := client.Dial(ctx(t), s.WSURL, client.Options{Token: "not-a-token", Backoff: fastBackoff})
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseUnauthorized {
		t.Fatalf("dial with a bad token: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("terminal refusal retried for %v", time.Since(start))
	}
	// No server at all: Dial keeps trying until its context ends.
	c2, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := client.Dial(c2, "ws://127.0.0.1:1/ws", client.Options{Backoff: fastBackoff}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial to nothing: %v", err)
	}
}

// TestReconnectAfterServerRestart restarts the server (same broker) while
// publications keep coming: the client recovers every one, once, in order.
func TestReconnectAfterServerRestart(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		var states []client.StateChange
		var smu sync.Mutex
		c, err := client.Dial(ctx(t), s.WSURL, client.Options{Encoding: enc,
			Token: ht.Token(t, "u", nil), Backoff: fastBackoff,
			OnState: func(sc client.StateChange) { smu.Lock(); states = append(states, sc); smu.Unlock() },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		if _, err := c.Subscribe(ctx(t), "chat:restart", b.opts()); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			s.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		b.wait(t, 5, 5*time.Second)
		s2 := s.Restart(ht.Options{})
		for i := 5; i < 10; i++ {
			s2.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		checkSequence(t, b.wait(t, 10, 5*time.Second), 10)
		smu.Lock()
		defer smu.Unlock()
		var sawGoingAway, reconnected bool
		for i, sc := range states {
			if sc.State == client.StateDisconnected && sc.Code == protocol.CloseGoingAway {
				sawGoingAway = true
				for _, later := range states[i:] {
					reconnected = reconnected || later.State == client.StateConnected
				}
			}
		}
		if !sawGoingAway || !reconnected {
			t.Fatalf("states %+v", states)
		}
		if len(b.lost) != 0 {
			t.Fatalf("recovery reported lost: %+v", b.lost)
		}
	})
}

// TestRecoveryThroughNetworkCuts cuts the network three times while a
// publisher runs: every publication arrives exactly once, in order.
func TestRecoveryThroughNetworkCuts(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Hub: hub.Config{Namespaces: map[string]hub.Namespace{
			"chat": {HistorySize: 1000, HistoryTTL: time.Hour, Recover: true, AllowPublish: hub.AccessAny},
		}}})
		p := newProxy(t, s.Addr())
		c, err := client.Dial(ctx(t), p.URL(), client.Options{Encoding: enc, Token: ht.Token(t, "u", nil), Backoff: fastBackoff})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		if _, err := c.Subscribe(ctx(t), "chat:cut", b.opts()); err != nil {
			t.Fatal(err)
		}
		const n = 300
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < n; i++ {
				if _, err := s.Hub.Publish(context.Background(), "chat:cut", []byte(fmt.Sprint(i)), ""); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond) // a pace on purpose: the stream spans the cuts
			}
		}()
		// Cut at a quarter, a half and three quarters of the stream.
		for i := 1; i <= 3; i++ {
			wait.For(t, 10*time.Second, func() error {
				if got := b.count(); got < i*n/4 {
					return fmt.Errorf("%d of %d messages before cut %d", got, i*n/4, i)
				}
				return nil
			})
			p.Cut()
		}
		<-done
		checkSequence(t, b.wait(t, n, 10*time.Second), n)
	})
}

// TestMissedHeartbeatReconnects freezes the network (sockets open, nothing
// arrives): the client notices the missing pings and reconnects.
func TestMissedHeartbeatReconnects(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{PingInterval: time.Second, PongTimeout: 5 * time.Second}})
	p := newProxy(t, s.Addr())
	connected, disconnected := make(chan struct{}, 10), make(chan struct{}, 10)
	c, err := client.Dial(ctx(t), p.URL(), client.Options{
		Token: ht.Token(t, "u", nil), Backoff: fastBackoff, PingMargin: 300 * time.Millisecond,
		DialTimeout: 500 * time.Millisecond, // a dial during the freeze never hears back
		OnState: func(sc client.StateChange) {
			switch sc.State {
			case client.StateConnected:
				connected <- struct{}{}
			case client.StateDisconnected:
				select {
				case disconnected <- struct{}{}:
				default: // the test waits for the first only
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-connected
	p.Freeze()
	select {
	case <-disconnected: // past ping interval + margin
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not notice the missing pings")
	}
	p.Thaw()
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect after missed heartbeats")
	}
	if _, err := c.Publish(ctx(t), "chat:hb", []byte(`1`)); err != nil {
		t.Fatalf("publish after reconnect: %v", err)
	}
}

func TestTerminalCloseStopsReconnecting(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	closed := make(chan client.StateChange, 1)
	c, err := client.Dial(ctx(t), s.WSURL, client.Options{
		Token: ht.Token(t, "banned", nil), Backoff: fastBackoff,
		OnState: func(sc client.StateChange) {
			if sc.State == client.StateClosed {
				closed <- sc
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.MustAPI("disconnect", map[string]any{"user": "banned"})
	select {
	case sc := <-closed:
		if sc.Code != protocol.CloseForbidden {
			t.Fatalf("closed with %d", sc.Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client not closed")
	}
	_, err = c.Publish(ctx(t), "chat:x", []byte(`1`))
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseForbidden {
		t.Fatalf("publish after terminal close: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // a period on purpose: a reconnect (fastBackoff) would come within it
	if n := s.Hub.Info().Clients; n != 0 {
		t.Fatalf("client reconnected: %d clients", n)
	}
}

func TestRecoveryLostIsReported(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		p := newProxy(t, s.Addr())
		c, err := client.Dial(ctx(t), p.URL(), client.Options{Encoding: enc, Token: ht.Token(t, "u", nil), Backoff: client.Backoff{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		if _, err := c.Subscribe(ctx(t), "news:lost", b.opts()); err != nil {
			t.Fatal(err)
		}
		s.MustAPI("publish", map[string]any{"channel": "news:lost", "data": 0})
		b.wait(t, 1, 5*time.Second)
		p.Down()
		// news keeps 10: 15 more while away leaves a hole.
		for i := 1; i <= 15; i++ {
			s.MustAPI("publish", map[string]any{"channel": "news:lost", "data": i})
		}
		p.Up()
		ht.Eventually(t, 5*time.Second, func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return len(b.lost) > 0
		}, "recovery lost reported")
		b.mu.Lock()
		lost := b.lost
		b.mu.Unlock()
		if len(lost) != 1 || lost[0].Since.Offset != 1 || lost[0].Position.Offset != 16 {
			t.Fatalf("recovery lost %+v", lost)
		}
		// What is still retained is not sent unasked (the application
		// reloads its state, with History if it wants it); the live
		// stream goes on from the position reported.
		s.MustAPI("publish", map[string]any{"channel": "news:lost", "data": 16})
		msgs := b.wait(t, 2, 5*time.Second)
		if len(msgs) != 2 || msgs[1].Offset != 17 {
			t.Fatalf("delivered after the loss: %s", b.describe())
		}
	})
}

func TestDirectMessagesAndInboxRecovery(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		p := newProxy(t, s.Addr())
		var mu sync.Mutex
		var got []client.Direct
		c, err := client.Dial(ctx(t), p.URL(), client.Options{Encoding: enc,
			Token: ht.Token(t, "bob", nil), Backoff: client.Backoff{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond},
			OnDirect: func(d client.Direct) { mu.Lock(); got = append(got, d); mu.Unlock() },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		alice, err := client.Dial(ctx(t), s.WSURL, client.Options{Encoding: enc, Token: ht.Token(t, "alice", nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer alice.Close()
		if _, err := alice.Send(ctx(t), "bob", []byte(`"live"`)); err != nil {
			t.Fatal(err)
		}
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
		ht.Eventually(t, 5*time.Second, func() bool { return count() == 1 }, "live direct")
		p.Cut()
		alice.Send(ctx(t), "bob", []byte(`"while away 1"`))
		alice.Send(ctx(t), "bob", []byte(`"while away 2"`))
		ht.Eventually(t, 5*time.Second, func() bool { return count() == 3 }, "recovered directs")
		alice.Send(ctx(t), "bob", []byte(`"after"`))
		ht.Eventually(t, 5*time.Second, func() bool { return count() == 4 }, "live after reconnect")
		mu.Lock()
		defer mu.Unlock()
		for i, d := range got {
			if d.Offset != uint64(i+1) || d.From.User != "alice" {
				t.Fatalf("direct %d: %+v", i, d)
			}
		}
		var last string
		json.Unmarshal(got[3].Data, &last)
		if last != "after" {
			t.Fatalf("last direct %q", last)
		}
	})
}

func TestTokenRefresh(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{Hub: hub.Config{RefreshNotice: time.Hour}})
		var mu sync.Mutex
		calls := 0
		c, err := client.Dial(ctx(t), s.WSURL, client.Options{Encoding: enc,
			TokenFunc: func(context.Context) (string, error) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				// The first token expires in 2 s; refreshed ones in an hour.
				exp := time.Now().Add(2 * time.Second)
				if calls > 1 {
					exp = time.Now().Add(time.Hour)
				}
				return ht.Token(t, "u", map[string]any{"exp": exp.Unix()}), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ht.Eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return calls >= 2 }, "refresh on refresh_needed")
		id := c.ID()
		time.Sleep(2500 * time.Millisecond) // a period on purpose: past the first token's exp
		if _, err := c.Publish(ctx(t), "chat:r", []byte(`1`)); err != nil || c.ID() != id {
			t.Fatalf("connection did not survive its first token: %v (id %s → %s)", err, id, c.ID())
		}
	})
}

func TestBackoff(t *testing.T) {
	b := client.Backoff{Min: 100 * time.Millisecond, Max: time.Second, Factor: 2}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := b.Ceiling(n); got != w*time.Millisecond {
			t.Errorf("ceiling %d = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := b.Delay(3)
		if d < 0 || d > 800*time.Millisecond {
			t.Fatalf("delay %v out of [0, 800ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 150 {
		t.Fatalf("only %d distinct delays in 200: not jittered", len(seen))
	}
	var zero client.Backoff
	if zero.Ceiling(0) != 200*time.Millisecond || zero.Ceiling(100) != 20*time.Second {
		t.Fatalf("defaults: %v %v", zero.Ceiling(0), zero.Ceiling(100))
	}
}

func TestCloseIsClean(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c, err := client.Dial(ctx(t), s.WSURL, client.Options{Token: ht.Token(t, "u", nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx(t), "chat:c", client.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if _, err := c.Publish(ctx(t), "chat:c", []byte(`1`)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
	ht.Eventually(t, 5*time.Second, func() bool { return s.Hub.Info().Clients == 0 }, "server saw the close")
}

// TestCrossEncoding: a JSON client and a Protobuf client on one channel see
// the same publications, binary payloads included.
func TestCrossEncoding(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	clients := map[protocol.Encoding]*client.Client{}
	boxes := map[protocol.Encoding]*inbox{}
	for _, enc := range ht.Encodings {
		c, err := client.Dial(ctx(t), s.WSURL, client.Options{Encoding: enc, Token: ht.Token(t, "u-"+enc.String(), nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[enc], boxes[enc] = c, newInbox()
		if _, err := c.Subscribe(ctx(t), "chat:x", boxes[enc].opts()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := clients[protocol.Protobuf].Publish(ctx(t), "chat:x", []byte{0, 0xff, 'b'}); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[protocol.JSON].Publish(ctx(t), "chat:x", []byte(`{"j":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[protocol.JSON].Publish(ctx(t), "chat:x", []byte{0, 0xff}); err == nil {
		t.Fatal("JSON client published bytes that are not JSON")
	}
	for enc, b := range boxes {
		msgs := b.wait(t, 2, 5*time.Second)
		if string(msgs[0].Data) != "\x00\xffb" || string(msgs[1].Data) != `{"j":1}` || msgs[0].Info.User != "u-protobuf" {
			t.Errorf("%v subscriber got %q, %q", enc, msgs[0].Data, msgs[1].Data)
		}
	}
}

// TestEventsChannel: a subscription can deliver to a Go channel instead of
// handlers, in order, and Close releases a reader blocked on a full channel.
func TestEventsChannel(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	c, err := client.Dial(ctx(t), s.WSURL, client.Options{Token: ht.Token(t, "alice", nil)})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan client.Event, 16)
	if _, err := c.Subscribe(ctx(t), "chat:ev", client.SubscribeOptions{Events: events}); err != nil {
		t.Fatal(err)
	}
	next := func() client.Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
			return client.Event{}
		}
	}
	if e := next(); e.Join == nil || e.Join.User != "alice" {
		t.Fatalf("first event %+v, want alice's join", e)
	}
	s.MustAPI("publish", map[string]any{"channel": "chat:ev", "data": 1})
	if e := next(); e.Message == nil || string(e.Message.Data) != "1" || e.Message.Offset != 1 {
		t.Fatalf("event %+v, want the message", e)
	}
	s.MustAPI("unsubscribe", map[string]any{"user": "alice", "channel": "chat:ev"})
	if e := next(); e.Unsubscribed == nil || e.Unsubscribed.Code != 2000 {
		t.Fatalf("event %+v, want unsubscribed", e)
	}

	// Nobody reads this one: Close must not hang on the blocked reader.
	if _, err := c.Subscribe(ctx(t), "chat:full", client.SubscribeOptions{Events: make(chan client.Event)}); err != nil {
		t.Fatal(err)
	}
	s.MustAPI("publish", map[string]any{"channel": "chat:full", "data": 2})
	// A period on purpose: the push reaches the unread channel within it
	// (nothing outside the client shows when it has).
	time.Sleep(50 * time.Millisecond)
	c.Close()
}

// flakyBroker is the memory broker with Subscribe failing while failures
// are left, as an engine does for a moment during a node's restart.
type flakyBroker struct {
	broker.Broker
	failures atomic.Int32
}

func (b *flakyBroker) Subscribe(ctx context.Context, channel string) error {
	if b.failures.Add(-1) >= 0 {
		return errors.New("engine unavailable")
	}
	return b.Broker.Subscribe(ctx, channel)
}

// TestResubscribeRetriesTemporaryErrors: a resubscribe after a reconnect
// that the server refuses with a temporary error (100) is tried again
// with backoff, keeping its position, so nothing is lost and the
// application is not told the subscription ended.
func TestResubscribeRetriesTemporaryErrors(t *testing.T) {
	mb := memory.New(memory.Options{})
	defer mb.Close()
	fb := &flakyBroker{Broker: mb}
	s := ht.Start(t, ht.Options{Broker: fb})
	p := newProxy(t, s.Addr())
	c, err := client.Dial(ctx(t), p.URL(), client.Options{Token: ht.Token(t, "u", nil), Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newInbox()
	opts := b.opts()
	var unsubscribed atomic.Int32
	opts.OnUnsubscribed = func(int, string) { unsubscribed.Add(1) }
	if _, err := c.Subscribe(ctx(t), "chat:flaky", opts); err != nil {
		t.Fatal(err)
	}
	s.MustAPI("publish", map[string]any{"channel": "chat:flaky", "data": 0})
	b.wait(t, 1, 5*time.Second)

	// Once the server has seen the connection go, the channel has no
	// subscriber on the node, so the resubscribe needs the broker: it fails
	// three times.
	p.Down()
	ht.Eventually(t, 5*time.Second, func() bool { return s.Hub.Info().Clients == 0 }, "the server to notice the cut")
	fb.failures.Store(3)
	for i := 1; i < 5; i++ {
		s.MustAPI("publish", map[string]any{"channel": "chat:flaky", "data": i})
	}
	p.Up()
	checkSequence(t, b.wait(t, 5, 10*time.Second), 5)
	if n := fb.failures.Load(); n >= 0 {
		t.Fatalf("the broker refused %d subscribes fewer than planned", n+1)
	}
	s.MustAPI("publish", map[string]any{"channel": "chat:flaky", "data": 5})
	checkSequence(t, b.wait(t, 6, 5*time.Second), 6)
	if n := unsubscribed.Load(); n != 0 || len(b.lost) != 0 {
		t.Fatalf("unsubscribed %d times, lost %v; want neither", n, b.lost)
	}
}
