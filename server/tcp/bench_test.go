package tcp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server/tcp"
)

// BenchmarkPublishRoundTrip publishes 128 bytes to a channel the client
// follows and waits for the reply and the message: one command at a time,
// so every round trip goes through the connection's idle wait.
func BenchmarkPublishRoundTrip(b *testing.B) {
	for _, enc := range ht.Encodings {
		b.Run(enc.String(), func(b *testing.B) {
			unlimited := hub.Config{CommandRate: 1e9, CommandBurst: 1 << 30, PublishRate: 1e9, PublishBurst: 1 << 30}
			n := startNode(b, ht.Options{Hub: unlimited}, tcp.Config{})
			c := dial(b, n.addr, enc)
			c.connect(ht.Token(b, "u", nil))
			c.call(map[string]any{"type": "subscribe", "channel": "chat:bench"})
			cmd := c.encode(map[string]any{"id": 1000, "type": "publish", "channel": "chat:bench", "data": strings.Repeat("x", 126)})
			b.ResetTimer()
			for range b.N {
				c.write(cmd)
				for range 2 {
					if _, err := c.read(5 * time.Second); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
