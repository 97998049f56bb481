package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// broadcastServer stands in for the bare baseline server: every text
// message is sent to every connection, sender included.
func broadcastServer(t *testing.T) string {
	var mu sync.Mutex
	conns := map[*websocket.Conn]bool{}
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); c.CloseNow() }()
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			mu.Lock()
			for o := range conns {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				o.Write(ctx, websocket.MessageText, msg)
				cancel()
			}
			mu.Unlock()
		}
	}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); wg.Wait() })
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

// TestRawProtocol: fanout and echo against a plain broadcast server with
// the same payload stamps and stats.
func TestRawProtocol(t *testing.T) {
	url := broadcastServer(t)
	cfg := Config{Scenario: "fanout", Protocol: "raw", URL: url, Connections: 4, Rate: 50, Duration: 300 * time.Millisecond, Drain: 5 * time.Second}
	r := run(t, cfg).Results[0]
	sane(t, r, r.Published*4)
	cfg.Scenario, cfg.Sizes, cfg.Connections = "echo", []int{128}, 2
	rep := run(t, cfg)
	if len(rep.Results) != 1 || rep.Results[0].Delivered == 0 || rep.Results[0].Lost != 0 || rep.Results[0].Delivered != rep.Results[0].Published {
		t.Fatalf("raw echo: %+v", rep.Results[0])
	}
}
