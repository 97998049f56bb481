package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// bigServer is a test server with a "big" namespace that keeps a long
// history anyone may publish to.
func bigServer(t *testing.T) *ht.Server {
	ns := ht.DefaultNamespaces()
	ns["big"] = hub.Namespace{HistorySize: 30000, HistoryTTL: time.Hour, Recover: true, AllowPublish: hub.AccessAny}
	return ht.Start(t, ht.Options{Hub: hub.Config{Namespaces: ns}})
}

func publishN(t *testing.T, s *ht.Server, channel string, n int) protocol.PublishResult {
	t.Helper()
	data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	var res protocol.PublishResult
	for range n {
		var err error
		if res, err = s.Hub.Publish(context.Background(), channel, data, ""); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// checkRun fails unless msgs hold offsets from..from+len-1 in order.
func checkRun(t *testing.T, msgs []client.Message, from uint64) {
	t.Helper()
	for i, m := range msgs {
		if m.Offset != from+uint64(i) {
			t.Fatalf("message %d: offset %d, want %d", i, m.Offset, from+uint64(i))
		}
	}
}

// TestSubscribeRecoversInPages: a subscribe from a position 20,000
// publications (20 MB) back delivers all of them, in order, once, though
// the server sends them in pages, then the live stream.
func TestSubscribeRecoversInPages(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := bigServer(t)
		first := publishN(t, s, "big:x", 1)
		publishN(t, s, "big:x", 19999)
		c, err := client.Dial(ctx(t), s.WSURL, client.Options{Encoding: enc, Token: ht.Token(t, "u", nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		opts := b.opts()
		opts.Since = &protocol.StreamPosition{Epoch: first.Epoch}
		if _, err := c.Subscribe(ctx(t), "big:x", opts); err != nil {
			t.Fatal(err)
		}
		publishN(t, s, "big:x", 10)
		msgs := b.wait(t, 20010, 30*time.Second)
		if len(msgs) != 20010 {
			t.Fatalf("%d messages: %s", len(msgs), b.describe())
		}
		checkRun(t, msgs, 1)
	})
}

// TestReconnectRecoversInPages: a client away while 20,000 publications
// went out gets every one of them on reconnect, through the connect
// command's subs, in order and once.
func TestReconnectRecoversInPages(t *testing.T) {
	s := bigServer(t)
	p := newProxy(t, s.Addr())
	c, err := client.Dial(ctx(t), p.URL(), client.Options{Token: ht.Token(t, "u", nil), Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newInbox()
	if _, err := c.Subscribe(ctx(t), "big:x", b.opts()); err != nil {
		t.Fatal(err)
	}
	publishN(t, s, "big:x", 1)
	b.wait(t, 1, 5*time.Second)
	p.Down()
	publishN(t, s, "big:x", 20000)
	p.Up()
	msgs := b.wait(t, 20001, 30*time.Second)
	if len(msgs) != 20001 || len(b.lost) != 0 {
		t.Fatalf("%d messages: %s", len(msgs), b.describe())
	}
	checkRun(t, msgs, 1)
}

// script is a scripted Herald server for behaviour no real server shows
// (a gap in the live stream, recovery failing for good): it answers
// connect, and each subscribe with the next of subscribes, after which it
// sends the pushes listed for that subscribe. It records the commands.
type script struct {
	t          *testing.T
	subscribes []scriptStep
	mu         sync.Mutex
	commands   []protocol.Command
	got        chan protocol.Command
}

type scriptStep struct {
	result *protocol.SubscribeResult
	err    *protocol.Error
	pushes []string // JSON pushes sent after the reply
}

func newScript(t *testing.T, steps ...scriptStep) (*script, string) {
	sc := &script{t: t, subscribes: steps, got: make(chan protocol.Command, 100)}
	srv := httptest.NewServer(http.HandlerFunc(sc.serve))
	t.Cleanup(srv.Close)
	return sc, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func (sc *script) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.SubprotocolJSON}})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx := r.Context()
	send := func(b []byte) {
		_ = ws.Write(ctx, websocket.MessageText, b)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		_ = protocol.JSON.DecodeFrame(data, func(cmd *protocol.Command) error {
			sc.mu.Lock()
			sc.commands = append(sc.commands, *cmd)
			var step *scriptStep
			if cmd.Type == protocol.TypeSubscribe && len(sc.subscribes) > 0 {
				step = &sc.subscribes[0]
				sc.subscribes = sc.subscribes[1:]
			}
			sc.mu.Unlock()
			sc.got <- *cmd
			switch {
			case cmd.Type == protocol.TypeConnect:
				b, _ := protocol.JSON.AppendReply(nil, cmd.ID, cmd.Type, &protocol.ConnectResult{Client: "c1", User: "u", Ping: 25})
				send(b)
			case step != nil && step.err != nil:
				send(protocol.JSON.AppendErrorReply(nil, cmd.ID, step.err))
			case step != nil:
				b, _ := protocol.JSON.AppendReply(nil, cmd.ID, cmd.Type, step.result)
				send(b)
				for _, p := range step.pushes {
					send([]byte(p))
				}
			case cmd.ID != 0:
				b, _ := protocol.JSON.AppendReply(nil, cmd.ID, cmd.Type, &protocol.EmptyResult{})
				send(b)
			}
			return nil
		})
	}
}

// next waits for the next command of type typ.
func (sc *script) next(typ string) protocol.Command {
	sc.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case cmd := <-sc.got:
			if cmd.Type == typ {
				return cmd
			}
		case <-timeout:
			sc.t.Fatalf("no %s command", typ)
		}
	}
}

func msgPush(offset int) string {
	o := strconv.Itoa(offset)
	return `{"type":"message","channel":"ch","offset":` + o + `,"data":` + o + `,"ts":1}`
}

// TestGapInLiveStreamResubscribes: a message whose offset skips ahead is
// never delivered; the subscription resubscribes from the last offset it
// delivered and gets what was missing from the server.
func TestGapInLiveStreamResubscribes(t *testing.T) {
	pos := func(o uint64) protocol.StreamPosition { return protocol.StreamPosition{Offset: o, Epoch: "e"} }
	yes := true
	sc, url := newScript(t,
		scriptStep{result: &protocol.SubscribeResult{Offset: 5, Epoch: "e"}, pushes: []string{msgPush(6), msgPush(8), msgPush(9)}},
		scriptStep{result: &protocol.SubscribeResult{Offset: 9, Epoch: "e", Recovered: &yes, Publications: []*protocol.Publication{
			{Offset: 7, Data: []byte("7"), JSON: true}, {Offset: 8, Data: []byte("8"), JSON: true}, {Offset: 9, Data: []byte("9"), JSON: true},
		}}},
	)
	c, err := client.Dial(ctx(t), url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newInbox()
	if _, err := c.Subscribe(ctx(t), "ch", b.opts()); err != nil {
		t.Fatal(err)
	}
	sc.next(protocol.TypeSubscribe)
	sc.next(protocol.TypeUnsubscribe)
	again := sc.next(protocol.TypeSubscribe)
	if again.Since == nil || *again.Since != pos(6) {
		t.Fatalf("resubscribed with since %+v, want 6", again.Since)
	}
	msgs := b.wait(t, 4, 5*time.Second)
	checkRun(t, msgs, 6)
	if len(msgs) != 4 {
		t.Fatalf("delivered %s", b.describe())
	}
}

// TestRecoveryRetriesAreBounded: a resubscribe refused again and again with
// a temporary error is retried with backoff, then reported lost to the
// application, and the subscription continues from the present.
func TestRecoveryRetriesAreBounded(t *testing.T) {
	temp := &protocol.Error{Code: protocol.CodeInternal, Message: "busy", Temporary: true}
	steps := []scriptStep{{result: &protocol.SubscribeResult{Offset: 5, Epoch: "e"}, pushes: []string{msgPush(6), msgPush(8)}}}
	for range 3 {
		steps = append(steps, scriptStep{err: temp})
	}
	steps = append(steps, scriptStep{result: &protocol.SubscribeResult{Offset: 9, Epoch: "e"}, pushes: []string{msgPush(10)}})
	sc, url := newScript(t, steps...)
	c, err := client.Dial(ctx(t), url, client.Options{RecoveryRetries: 2, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newInbox()
	if _, err := c.Subscribe(ctx(t), "ch", b.opts()); err != nil {
		t.Fatal(err)
	}
	sc.next(protocol.TypeSubscribe)
	var sinces []*protocol.StreamPosition
	for range 4 {
		sinces = append(sinces, sc.next(protocol.TypeSubscribe).Since)
	}
	if sinces[0] == nil || sinces[1] == nil || sinces[2] == nil || sinces[3] != nil {
		t.Fatalf("resubscribes since %v %v %v %v: want three with since, then one without", sinces[0], sinces[1], sinces[2], sinces[3])
	}
	ht.Eventually(t, 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.lost) == 1
	}, "recovery lost reported once")
	if b.lost[0].Since.Offset != 6 {
		t.Fatalf("lost %+v", b.lost)
	}
}
