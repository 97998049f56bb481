package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

// TestSlowConsumer connects a client that stops reading. Its queue fills,
// it is disconnected (4001) rather than skipped, the server drops it once
// the socket stays blocked past the write timeout, and the other subscribers
// get every message.
func TestSlowConsumer(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{
			Encoding: enc,
			Hub:      hub.Config{WriteQueueMessages: 64, WriteQueueBytes: 256 << 10},
			Server:   server.Config{WriteTimeout: 300 * time.Millisecond},
		})
		fast, _ := s.Connect(t, ht.Token(t, "fast", nil))
		fast.Call(map[string]any{"type": "subscribe", "channel": "plain"})

		// A raw connection never reads: connect and subscribe in one frame of
		// the encoding, then nothing.
		slow := ht.DialRaw(t, s.Addr(), "/ws", map[string]string{"Sec-WebSocket-Protocol": enc.Subprotocol()})
		var frame []byte
		for i, cmd := range []*protocol.Command{
			{ID: 1, Type: "connect", Token: ht.Token(t, "slow", nil)},
			{ID: 2, Type: "subscribe", Channel: "plain"},
		} {
			if i > 0 {
				frame = append(frame, enc.Separator()...)
			}
			frame, _ = enc.AppendCommand(frame, cmd)
		}
		opcode := byte(0x81) // text
		if enc.Binary() {
			opcode = 0x82
		}
		slow.WriteFrame(opcode, frame)
		ht.Eventually(t, 2*time.Second, func() bool { return s.Hub.Channels("plain")["plain"] == 2 }, "both subscribed")

		payload := []byte(`"` + strings.Repeat("x", 16<<10) + `"`)
		const n = 2000 // 32 MB: far more than the socket buffers hold
		// In step with the fast client, so only the slow one falls behind.
		sent := 0
		for ; sent < n && s.Hub.Stats().SlowConsumers == 0; sent++ {
			if _, err := s.Hub.Publish(context.Background(), "plain", payload, ""); err != nil {
				t.Fatal(err)
			}
			fast.Messages("plain", 1)
		}
		t.Logf("slow consumer detected after %d messages", sent)
		ht.Eventually(t, 5*time.Second, func() bool { return s.Hub.Info().Clients == 1 }, "slow consumer dropped")
		if got := s.Hub.Stats().SlowConsumers; got != 1 {
			t.Fatalf("slow consumers %d, want 1", got)
		}
		stillServes(t, s)
	})
}
