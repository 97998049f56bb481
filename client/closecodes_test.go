package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// closingServer answers every connect, then closes the connection with
// close(n) (n counts connections from 1; 0 keeps it open; dropConnection
// ends it without a close frame). It returns the URL and the number of
// connections so far.
func closingServer(t *testing.T, close func(n int64) websocket.StatusCode) (string, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.SubprotocolJSON}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		n := conns.Add(1)
		_, data, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		_ = protocol.JSON.DecodeFrame(data, func(cmd *protocol.Command) error {
			b, _ := protocol.JSON.AppendReply(nil, cmd.ID, cmd.Type, &protocol.ConnectResult{Client: "c", Ping: 25})
			return ws.Write(r.Context(), websocket.MessageText, b)
		})
		if code := close(n); code == dropConnection {
			return // CloseNow: no close frame, the client sees 1006
		} else if code != 0 {
			ws.Close(code, "test")
			return
		}
		for {
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", &conns
}

// dropConnection makes closingServer end a connection without a close
// frame, as a proxy or a load balancer that drops it would.
const dropConnection websocket.StatusCode = -1

// TestShortConnectionsBackOff: a server that closes every connection soon
// after connect, with 4005 or without a close frame at all (1006, a proxy
// dropping it), is asked again less and less often, not every Backoff.Min.
func TestShortConnectionsBackOff(t *testing.T) {
	for _, code := range []websocket.StatusCode{websocket.StatusCode(protocol.CloseConnectionLimit), dropConnection} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			url, conns := closingServer(t, func(int64) websocket.StatusCode { return code })
			c := client.New(url, client.Options{Backoff: client.Backoff{Min: 50 * time.Millisecond, Max: 10 * time.Second, Factor: 4}})
			if err := c.Connect(ctx(t)); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			time.Sleep(2 * time.Second) // counting attempts over a period, not synchronising
			// Waits drawn below 50·4ⁿ ms: a handful of connections in 2 s.
			// With the backoff reset after every connection, some forty.
			if n := conns.Load(); n > 12 {
				t.Fatalf("%d connections in 2 s", n)
			}
		})
	}
}

// TestChannelTokenSurvivesReconnect: a subscription made with a channel
// token is subscribed again, with its token and position, after a
// reconnect (a connect's subs entries cannot carry one), and recovers what
// it missed.
func TestChannelTokenSurvivesReconnect(t *testing.T) {
	ns := ht.DefaultNamespaces()
	ns["vault"] = hub.Namespace{AllowSubscribe: hub.SubscribeToken, HistorySize: 100, HistoryTTL: time.Hour, Recover: true}
	s := ht.Start(t, ht.Options{Hub: hub.Config{Namespaces: ns}})
	p := newProxy(t, s.Addr())
	c, err := client.Dial(ctx(t), p.URL(), client.Options{Token: ht.Token(t, "alice", nil), Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newInbox()
	opts := b.opts()
	var unsubscribed atomic.Int64
	opts.OnUnsubscribed = func(int, string) { unsubscribed.Add(1) }
	opts.Token = ht.Token(t, "alice", map[string]any{"channel": "vault:a"})
	if _, err := c.Subscribe(ctx(t), "vault:a", opts); err != nil {
		t.Fatal(err)
	}
	s.MustAPI("publish", map[string]any{"channel": "vault:a", "data": 1})
	b.wait(t, 1, 5*time.Second)
	p.Down()
	s.MustAPI("publish", map[string]any{"channel": "vault:a", "data": 2})
	p.Up()
	msgs := b.wait(t, 2, 5*time.Second)
	if msgs[1].Offset != 2 || unsubscribed.Load() != 0 || len(b.lost) != 0 {
		t.Fatalf("after the reconnect: %s, unsubscribed %d times", b.describe(), unsubscribed.Load())
	}
}

// TestExpiredStaticTokenStops: a client with a fixed token whose
// connection ends with 4003 stops, reporting it, instead of reconnecting
// with the same expired token forever.
func TestExpiredStaticTokenStops(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	token := ht.Token(t, "alice", map[string]any{"exp": time.Now().Add(2 * time.Second).Unix()})
	closed := make(chan client.StateChange, 1)
	c, err := client.Dial(ctx(t), s.WSURL, client.Options{Token: token, Backoff: fastBackoff, OnState: func(sc client.StateChange) {
		if sc.State == client.StateClosed {
			closed <- sc
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case sc := <-closed:
		if sc.Code != protocol.CloseTokenExpired {
			t.Fatalf("closed with %d, want 4003", sc.Code)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still %v after the token expired", c.State())
	}
}

// TestCloseCodeReactions closes a connection with each code of
// conformance/closecodes.json, with the disconnect push the table says
// precedes it, and checks what the client does: stop and report the code,
// or reconnect, with a fresh token, resubscribing with since its position.
// TestCloseCodeDecisions checks the backoff of each.
func TestCloseCodeReactions(t *testing.T) {
	table := client.LoadCloseCodeTable(t)
	type closeCase struct {
		name string
		code int
		push bool
		want client.CloseCodeReaction
	}
	var cases []closeCase
	for _, row := range table.Codes {
		cases = append(cases, closeCase{fmt.Sprint(row.Code), row.Code, row.Push, row})
	}
	for _, row := range table.Ranges {
		cases = append(cases,
			closeCase{fmt.Sprint(row.From), row.From, true, row},
			closeCase{fmt.Sprint(row.To), row.To, true, row},
			closeCase{fmt.Sprintf("%d without a push", row.To), row.To, false, table.Unlisted})
	}
	cases = append(cases, closeCase{"1013", 1013, false, table.Unlisted})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, connects := tableServer(t, tc.code, tc.push)
			var tokens atomic.Int64
			closed := make(chan client.StateChange, 1)
			c, err := client.Dial(ctx(t), url, client.Options{
				TokenFunc: func(context.Context) (string, error) { return fmt.Sprint("token-", tokens.Add(1)), nil },
				Backoff:   fastBackoff,
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
			first := <-connects
			if _, err := c.Subscribe(ctx(t), "chat:x", client.SubscribeOptions{}); err != nil {
				t.Fatal(err)
			}
			if !tc.want.Reconnect {
				select {
				case sc := <-closed:
					if tc.code != 1006 && int(sc.Code) != tc.code {
						t.Fatalf("closed with %d, want %d", sc.Code, tc.code)
					}
				case again := <-connects:
					t.Fatalf("the client connected again after a terminal %d: %+v", tc.code, again)
				case <-time.After(5 * time.Second):
					t.Fatalf("still %v after a terminal %d", c.State(), tc.code)
				}
				return
			}
			var again protocol.Command
			select {
			case again = <-connects:
			case sc := <-closed:
				t.Fatalf("the client stopped (%d) instead of reconnecting", sc.Code)
			case <-time.After(5 * time.Second):
				t.Fatalf("no reconnect after %d", tc.code)
			}
			if tc.want.RefreshToken && again.Token == first.Token {
				t.Errorf("reconnected with the same token %q after %d", again.Token, tc.code)
			}
			since := again.Subs["chat:x"].Since
			if tc.want.ResubscribeWithSince && (since == nil || *since != (protocol.StreamPosition{Offset: 5, Epoch: "e1"})) {
				t.Errorf("reconnected after %d with subs %+v, want chat:x since offset 5 of e1", tc.code, again.Subs)
			}
		})
	}
}

// tableServer answers connect (recovering what its subs ask) and
// subscribe (position 5 of epoch e1); on the first connection it then ends
// the connection with code, after a disconnect push when push is set (1006:
// no close frame at all). Each connect command it receives is sent on the
// channel.
func tableServer(t *testing.T, code int, push bool) (string, chan protocol.Command) {
	connects := make(chan protocol.Command, 16)
	var conns atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.SubprotocolJSON}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		n := conns.Add(1)
		reply := func(b []byte) error { return ws.Write(r.Context(), websocket.MessageText, b) }
		for {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			end := false
			_ = protocol.JSON.DecodeFrame(data, func(cmd *protocol.Command) error {
				switch cmd.Type {
				case protocol.TypeConnect:
					connects <- *cmd
					res := &protocol.ConnectResult{Client: fmt.Sprint("c", n), Ping: 25, Subs: map[string]*protocol.SubscribeResult{}}
					for ch := range cmd.Subs {
						recovered := true
						res.Subs[ch] = &protocol.SubscribeResult{Offset: 5, Epoch: "e1", Recovered: &recovered}
					}
					b, _ := protocol.JSON.AppendReply(nil, cmd.ID, cmd.Type, res)
					return reply(b)
				case protocol.TypeSubscribe:
					b, _ := protocol.JSON.AppendReply(nil, cmd.ID, cmd.Type, &protocol.SubscribeResult{Offset: 5, Epoch: "e1"})
					end = n == 1
					return reply(b)
				}
				return nil
			})
			if !end {
				continue
			}
			if push {
				// The push Herald's server sends for this code.
				_ = reply(protocol.JSON.AppendDisconnectPush(nil, protocol.NewDisconnect(protocol.CloseCode(code), "test")))
			}
			if code != 1006 {
				_ = ws.Close(websocket.StatusCode(code), "test")
			}
			return
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", connects
}
