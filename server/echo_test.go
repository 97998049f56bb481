package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// echoURL is the server's /echo endpoint.
func echoURL(s *ht.Server) string { return "ws://" + s.Addr() + "/echo" }

// echoOnce checks that c echoes a message.
func echoOnce(t *testing.T, c *ht.Client) {
	t.Helper()
	c.Send(`{"hello":"echo"}`)
	c.Wait(func(m ht.Msg) bool { return m["hello"] == "echo" }, "echo")
}

// TestEchoConnectRate: /echo takes its tokens from the same per-address
// bucket as /ws.
func TestEchoConnectRate(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true, ConnectRatePerIP: 0.01, ConnectBurstPerIP: 2}})
	ht.Dial(t, s.WSURL, dialFrom("127.0.0.3"))
	echoOnce(t, ht.Dial(t, echoURL(s), dialFrom("127.0.0.3")))
	conn, resp, err := websocket.Dial(t.Context(), echoURL(s), dialFrom("127.0.0.3"))
	if err == nil {
		conn.CloseNow()
		t.Fatal("third connection from one address accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v, response %+v", err, resp)
	}
	echoOnce(t, ht.Dial(t, echoURL(s), dialFrom("127.0.0.4")))
}

// TestEchoConnectionLimits: /echo connections count with /ws connections
// against MaxConnections and MaxConnectionsPerIP; one past them is closed
// with 4005.
func TestEchoConnectionLimits(t *testing.T) {
	t.Run("total", func(t *testing.T) {
		s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true, MaxConnections: 2}})
		s.Connect(t, ht.Token(t, "a", nil))
		echoOnce(t, ht.Dial(t, echoURL(s), nil))
		if code := ht.Dial(t, echoURL(s), nil).WaitClosed(5 * time.Second); code != 4005 {
			t.Fatalf("third connection closed with %d, want 4005", code)
		}
		s.Dial(t).ExpectClose(4005)
	})
	t.Run("per ip", func(t *testing.T) {
		s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true, MaxConnectionsPerIP: 1}})
		first := ht.Dial(t, echoURL(s), dialFrom("127.0.0.3"))
		echoOnce(t, first)
		if code := ht.Dial(t, echoURL(s), dialFrom("127.0.0.3")).WaitClosed(5 * time.Second); code != 4005 {
			t.Fatalf("second connection from one address closed with %d, want 4005", code)
		}
		echoOnce(t, ht.Dial(t, echoURL(s), dialFrom("127.0.0.4")))
		first.Conn.CloseNow()
		ht.Eventually(t, 5*time.Second, func() bool {
			c, _, err := websocket.Dial(t.Context(), echoURL(s), dialFrom("127.0.0.3"))
			if err != nil {
				return false
			}
			defer c.CloseNow()
			return c.Write(t.Context(), websocket.MessageText, []byte("{}")) == nil && readOK(t, c)
		}, "the address's allowance back")
	})
}

// readOK reports whether c reads a message before it is closed.
func readOK(t *testing.T, c *websocket.Conn) bool {
	_, _, err := c.Read(t.Context())
	return err == nil
}

// TestEchoTimeouts: an /echo connection that sends nothing is closed with
// 4500 after EchoConnectTimeout, and one that falls silent after a message
// with 4002 after EchoIdleTimeout.
func TestEchoTimeouts(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{
		EchoEndpoint: true, EchoConnectTimeout: 200 * time.Millisecond, EchoIdleTimeout: 300 * time.Millisecond,
	}})
	silent := ht.Dial(t, echoURL(s), nil)
	if code := silent.WaitClosed(5 * time.Second); code != 4500 || silent.CloseReason != "connect timeout" {
		t.Fatalf("silent connection closed with %d %q, want 4500", code, silent.CloseReason)
	}
	idle := ht.Dial(t, echoURL(s), nil)
	echoOnce(t, idle)
	if code := idle.WaitClosed(5 * time.Second); code != 4002 {
		t.Fatalf("idle connection closed with %d, want 4002", code)
	}
}

// TestEchoShutdown: Shutdown closes /echo connections with 1001 rather
// than waiting for them to leave.
func TestEchoShutdown(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true}})
	c := ht.Dial(t, echoURL(s), nil)
	echoOnce(t, c)
	s.Stop()
	if code := c.WaitClosed(5 * time.Second); code != 1001 {
		t.Fatalf("closed with %d, want 1001", code)
	}
}
