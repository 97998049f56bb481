package admin_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/browsertest"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestBrowserDashboard drives the console in Chromium: a wrong password,
// the login, the live connection and user counts rising as clients connect,
// the channel list, presence, a publish that a real subscriber receives and
// the history viewer shows (and shows again after the next publish), a
// long history shown whole with who published each row, the log level
// selector, the page at a phone's width and a laptop's, a user disconnected
// from the form, and the sign-out.
func TestBrowserDashboard(t *testing.T) {
	browsertest.Require(t)
	c := startConsoleWith(t, ht.Options{Hub: hub.Config{Anonymous: true}})
	reader, _ := c.Connect(t, ht.Token(t, "reader", nil))
	subscribe(t, reader, "chat:lobby")

	// A history longer than a screen: one publication from an anonymous
	// connection, the rest from the server API.
	anon, _ := c.Connect(t, "")
	if r := anon.Call(map[string]any{"type": "publish", "channel": "chat:history", "data": map[string]any{"text": "anonymous"}}); r.ErrorCode() != 0 {
		t.Fatalf("anonymous publish: %v", r)
	}
	anon.Conn.Close(websocket.StatusNormalClosure, "") // the page counts the reader alone
	for i := 2; i <= historyLength; i++ {
		c.MustAPI("publish", map[string]any{"channel": "chat:history", "data": map[string]any{"n": i}})
	}

	// The script asks for more clients once the page shows the first; they
	// connect from the handler's goroutine, so errors are answered, not
	// fatal.
	var mu sync.Mutex
	var conns []*websocket.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			conn.CloseNow()
		}
	})
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := range n {
			conn, err := dialConnected(r.Context(), c.WSURL, ht.Token(t, "viewer"+strconv.Itoa(i), nil))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}))
	defer control.Close()

	browsertest.Run(t, "testdata/admin.cjs", 2*time.Minute,
		"ADMIN_URL="+c.URL+"/admin/", "ADMIN_PASSWORD="+password, "CONTROL_URL="+control.URL,
		"HISTORY_LENGTH="+strconv.Itoa(historyLength))

	m := reader.Messages("chat:lobby", 1)[0]
	if data, _ := m["data"].(map[string]any); data["text"] != "hello from the browser" {
		t.Fatalf("the subscriber got %v", m)
	}
	if c.level.Level() != slog.LevelDebug {
		t.Fatalf("the selector left the level at %v", c.level.Level())
	}
}

// historyLength is how many publications the test's long history holds:
// more than a screen's worth of rows, fewer than the viewer asks for.
const historyLength = 30

// dialConnected opens a client connection and completes connect with token.
func dialConnected(ctx context.Context, url, token string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	cmd, _ := json.Marshal(map[string]any{"id": 1, "type": "connect", "token": token})
	if err := conn.Write(ctx, websocket.MessageText, cmd); err != nil {
		conn.CloseNow()
		return nil, err
	}
	// The reply must come before the server counts the client as connected.
	if _, _, err := conn.Read(ctx); err != nil {
		conn.CloseNow()
		return nil, err
	}
	// Keep reading so that pings are answered and the connection stays up.
	go func() {
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return conn, nil
}
