package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestFullSocketFrames: publications written to a subscriber that has
// stopped reading fill its socket, so frames are written in part without
// waiting and finished by a writer goroutine. When the subscriber reads
// again, every message arrives whole and in order.
func TestFullSocketFrames(t *testing.T) {
	const n = 2000
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true, WriteQueueMessages: 2 * n, WriteQueueBytes: 64 << 20}})
	c := rawConnected(t, s)
	c.WriteText([]byte(`{"id":2,"type":"subscribe","channel":"plain"}`))
	expectReply(t, c, `"id":2,`)
	pad := strings.Repeat("x", 6<<10) // 12 MB: far more than the socket buffers hold
	for i := range n {
		data, _ := json.Marshal(map[string]any{"n": i, "pad": pad})
		if _, err := s.Hub.Publish(context.Background(), "plain", data, ""); err != nil {
			t.Fatal(err)
		}
	}
	next := 0
	deadline := time.Now().Add(10 * time.Second)
	for next < n {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d messages: %v", next, err)
		}
		if f.Opcode != 1 {
			t.Fatalf("after %d messages: frame of opcode %d", next, f.Opcode)
		}
		for line := range strings.SplitSeq(string(f.Payload), "\n") {
			var m struct {
				Type string
				Data struct {
					N   int
					Pad string
				}
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("after %d messages: %v in %.80q", next, err, line)
			}
			if m.Type != "message" {
				continue
			}
			if m.Data.N != next || m.Data.Pad != pad {
				t.Fatalf("message %d (pad of %d bytes), want %d", m.Data.N, len(m.Data.Pad), next)
			}
			next++
		}
	}
}
