package main

import (
	"net/http"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/services"
)

// TestServeWhileEngineDown: herald serve started while its Redis or NATS
// is down starts anyway: /readyz answers 503 and commands error 100,
// temporary, until the engine comes up; then the node is ready and serves,
// with nothing restarted.
func TestServeWhileEngineDown(t *testing.T) {
	for _, engine := range []string{"redis", "nats"} {
		t.Run(engine, func(t *testing.T) {
			var p *services.Process
			var env []string
			prefix := "herald-test-" + randomID()
			if engine == "redis" {
				p = services.StartRedis(t)
				env = []string{"HERALD_BROKER_ENGINE=redis", "HERALD_BROKER_REDIS_ADDRS=" + p.Addr(), "HERALD_BROKER_REDIS_PREFIX=" + prefix}
			} else {
				p = services.StartNATS(t)
				env = []string{"HERALD_BROKER_ENGINE=nats", "HERALD_BROKER_NATS_URL=nats://" + p.Addr(), "HERALD_BROKER_NATS_PREFIX=" + prefix}
			}
			p.Stop()
			_, addr, _ := startServeEnv(t, env)
			readyz := func() int {
				resp, err := http.Get("http://" + addr + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := readyz(); code != http.StatusServiceUnavailable {
				t.Fatalf("readyz %d with the engine down, want 503", code)
			}
			c, _ := ht.Connect(t, "ws://"+addr+"/ws", "")
			r := c.Call(map[string]any{"type": "subscribe", "channel": "any:room"})
			if e, _ := r["error"].(map[string]any); r.ErrorCode() != 100 || e["temporary"] != true {
				t.Fatalf("subscribe with the engine down: %v, want error 100, temporary", r)
			}

			p.Start()
			ht.Eventually(t, 20*time.Second, func() bool { return readyz() == http.StatusOK }, "readyz 200 once the engine is up")
			if r := c.Call(map[string]any{"type": "subscribe", "channel": "any:room"}); r.ErrorCode() != 0 {
				t.Fatalf("subscribe once the engine is up: %v", r)
			}
			if r := c.Call(map[string]any{"type": "publish", "channel": "any:room", "data": 1}); r.ErrorCode() != 0 {
				t.Fatalf("publish once the engine is up: %v", r)
			}
			c.Messages("any:room", 1)
		})
	}
}
