package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestClusterStreamCommands: a stream connection on node A takes commands
// POSTed to node B, routed through the engine; B answers for A's
// refusals, and a 503 in bounded time once A is gone.
func TestClusterStreamCommands(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		prefix := "herald-test-" + randomID()
		var nodes []*ht.Server
		for i := range 2 {
			nodes = append(nodes, ht.Start(t, ht.Options{
				Broker: e.connect(t, prefix),
				Hub:    hub.Config{NodeName: fmt.Sprintf("node-%d", i+1), RouteTimeout: 500 * time.Millisecond},
			}))
		}
		a, b := nodes[0], nodes[1]
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		defer hc.CloseIdleConnections()
		connect := `{"type":"connect","token":"` + ht.Token(t, "alice", nil) + `"}`
		resp, err := hc.Get(a.URL + "/stream?connect=" + url.QueryEscape(connect))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		lines := make(chan ht.Msg, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var m ht.Msg
				if json.Unmarshal(sc.Bytes(), &m) == nil {
					lines <- m
				}
			}
		}()
		next := func(match func(ht.Msg) bool) ht.Msg {
			t.Helper()
			timeout := time.After(5 * time.Second)
			for {
				select {
				case m, ok := <-lines:
					if !ok {
						t.Fatal("stream ended")
					}
					if match(m) {
						return m
					}
				case <-timeout:
					t.Fatal("nothing within 5s")
				}
			}
		}
		session, _ := next(func(m ht.Msg) bool { return m.ID() == 1 }).Result()["session"].(string)
		postTo := func(n *ht.Server, body, token string) int {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, n.URL+"/sse/cmd?session="+url.QueryEscape(session), strings.NewReader(body))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if got := postTo(b, `{"id":2,"type":"subscribe","channel":"chat:x"}`, ""); got != http.StatusNoContent {
			t.Fatalf("POST via B: %d", got)
		}
		if r := next(func(m ht.Msg) bool { return m.ID() == 2 }); r.ErrorCode() != 0 {
			t.Fatalf("subscribe: %v", r)
		}
		if got := postTo(b, `{"id":3,"type":"publish","channel":"chat:x","data":1}`, ht.Token(t, "alice", nil)); got != http.StatusNoContent {
			t.Fatalf("POST via B with the user's token: %d", got)
		}
		// The reply and the message, in either order (the message comes
		// back through the engine).
		seen := 0
		for seen != 3 {
			m := next(func(m ht.Msg) bool { return m.ID() == 3 || m.Type() == "message" })
			if m.ID() == 3 {
				seen |= 1
			} else {
				seen |= 2
			}
		}
		for _, tc := range []struct {
			name, body, token string
			want              int
		}{
			{"malformed", `{"id":`, "", 400},
			{"another user", `{"type":"pong"}`, ht.Token(t, "bob", nil), 403},
		} {
			if got := postTo(b, tc.body, tc.token); got != tc.want {
				t.Fatalf("%s via B: %d, want %d", tc.name, got, tc.want)
			}
		}
		// An ended session of a live node: 404 from B.
		resp.Body.Close()
		ht.Eventually(t, 5*time.Second, func() bool { return a.Hub.Info().Clients == 0 }, "stream ended on A")
		if got := postTo(b, `{"type":"pong"}`, ""); got != http.StatusNotFound {
			t.Fatalf("ended session via B: %d", got)
		}
		// A gone: 503 within the route timeout.
		a.Stop()
		start := time.Now()
		if got := postTo(b, `{"type":"pong"}`, ""); got != http.StatusServiceUnavailable {
			t.Fatalf("session of a stopped node via B: %d", got)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("503 after %v", d)
		}
	})
}
