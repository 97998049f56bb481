// Package basetest is the behaviour both baseline servers must share,
// checked over real WebSocket connections.
package basetest

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/bench/baseline/internal/serve"
)

// Run serves a hub from newHub on a random port and checks it: text
// messages reach every connection, the sender included; binary messages are
// ignored; a message over serve.MaxMessageSize closes its sender with 1009
// and no one else; echo connections get their own messages back and no
// broadcasts; Close closes every connection with 1001.
func Run(t *testing.T, newHub func() serve.Hub) {
	hub := newHub()
	mux := http.NewServeMux()
	mux.Handle(serve.Path, hub)
	mux.Handle(serve.EchoPath, hub.Echo())
	srv := httptest.NewServer(mux)
	closed := false
	closeAll := func() {
		if !closed {
			closed = true
			hub.Close()
			srv.Close()
		}
	}
	defer closeAll()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + serve.Path
	echoURL := "ws" + strings.TrimPrefix(srv.URL, "http") + serve.EchoPath

	t.Run("Broadcast", func(t *testing.T) {
		// A hub may register a connection after its handshake completes,
		// but always before it reads the connection's first message: b's
		// own broadcast coming back proves b registered, and a, dialled
		// after that, only reaches the hub after its registration.
		b := dial(t, url)
		defer b.Close()
		send(t, b, websocket.TextMessage, []byte("b is here"))
		if got := receive(t, b); string(got) != "b is here" {
			t.Fatalf("b received %q, want its own message", got)
		}
		a := dial(t, url)
		defer a.Close()
		send(t, a, websocket.BinaryMessage, []byte("ignored"))
		send(t, a, websocket.TextMessage, []byte("hello"))
		for _, c := range []*websocket.Conn{a, b} {
			if got := receive(t, c); string(got) != "hello" {
				t.Fatalf("received %q, want hello", got)
			}
		}
	})

	t.Run("Echo", func(t *testing.T) {
		e, b := dial(t, echoURL), dial(t, url)
		defer e.Close()
		defer b.Close()
		send(t, e, websocket.TextMessage, []byte("ping"))
		if got := receive(t, e); string(got) != "ping" {
			t.Fatalf("echo: received %q, want ping", got)
		}
		send(t, b, websocket.TextMessage, []byte("broadcast"))
		if got := receive(t, b); string(got) != "broadcast" {
			t.Fatalf("broadcast: received %q", got)
		}
		// The broadcast has gone out; the echo connection's next message
		// must be its own.
		send(t, e, websocket.TextMessage, []byte("pong"))
		if got := receive(t, e); string(got) != "pong" {
			t.Fatalf("echo connection received %q, want its own pong", got)
		}
	})

	t.Run("Oversize", func(t *testing.T) {
		a, b := dial(t, url), dial(t, url)
		defer a.Close()
		defer b.Close()
		send(t, a, websocket.TextMessage, make([]byte, serve.MaxMessageSize+1))
		if code := closeCode(t, a); code != websocket.CloseMessageTooBig {
			t.Fatalf("oversized message: closed with %d, want %d", code, websocket.CloseMessageTooBig)
		}
		// The limit is inclusive, and the others keep working.
		max := bytes.Repeat([]byte("x"), serve.MaxMessageSize)
		send(t, b, websocket.TextMessage, max)
		if got := receive(t, b); !bytes.Equal(got, max) {
			t.Fatalf("received %d bytes, want %d", len(got), len(max))
		}
	})

	t.Run("Close", func(t *testing.T) {
		a, e := dial(t, url), dial(t, echoURL)
		defer a.Close()
		defer e.Close()
		// A round trip proves each has joined before the hub closes.
		for _, c := range []*websocket.Conn{a, e} {
			send(t, c, websocket.TextMessage, []byte("joined"))
			receive(t, c)
		}
		closeAll()
		for _, c := range []*websocket.Conn{a, e} {
			if code := closeCode(t, c); code != websocket.CloseGoingAway {
				t.Fatalf("shutdown: closed with %d, want %d", code, websocket.CloseGoingAway)
			}
		}
	})
}

// wait bounds every read, so a broken hub fails the test instead of
// hanging it; it is not a timing assertion.
const wait = 10 * time.Second

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, typ int, msg []byte) {
	t.Helper()
	if err := c.WriteMessage(typ, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func receive(t *testing.T, c *websocket.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	typ, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("received message type %d, want text", typ)
	}
	return msg
}

// closeCode reads until the connection closes and returns the peer's close
// code.
func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code
	}
}
