package client_test

import (
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
// close(n) (n counts connections from 1; 0 keeps it open). It returns the
// URL and the number of connections so far.
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
		if code := close(n); code != 0 {
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

// TestUnknownCloseCodeReconnects: a close code Herald does not define (a
// proxy's 1013 "try again later") ends the connection, not the client.
func TestUnknownCloseCodeReconnects(t *testing.T) {
	url, conns := closingServer(t, func(n int64) websocket.StatusCode {
		if n == 1 {
			return websocket.StatusTryAgainLater
		}
		return 0
	})
	c, err := client.Dial(ctx(t), url, client.Options{Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ht.Eventually(t, 5*time.Second, func() bool { return conns.Load() == 2 && c.State() == client.StateConnected }, "reconnected after 1013")
}

// TestLimitClosesBackOff: a server that closes every connection with 4005
// soon after connect is asked again less and less often, not every
// Backoff.Min.
func TestLimitClosesBackOff(t *testing.T) {
	url, conns := closingServer(t, func(int64) websocket.StatusCode { return websocket.StatusCode(protocol.CloseConnectionLimit) })
	c := client.New(url, client.Options{Backoff: client.Backoff{Min: 50 * time.Millisecond, Max: 10 * time.Second, Factor: 4}})
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(2 * time.Second) // counting attempts over a period, not synchronising
	// Waits drawn below 50·4ⁿ ms: a handful of connections in 2 s. With
	// the backoff reset after every connection, some forty.
	if n := conns.Load(); n > 12 {
		t.Fatalf("%d connections in 2 s", n)
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
