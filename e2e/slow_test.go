package e2e_test

import (
	"context"
	"net"
	"runtime"
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
		s.StillServes(t)
	})
}

// rawSubscriber connects a raw connection that reads nothing until told
// and subscribes it to channel.
func rawSubscriber(t *testing.T, s *ht.Server, user, channel string) *ht.RawConn {
	t.Helper()
	c := ht.DialRaw(t, s.Addr(), "/ws", nil)
	var frame []byte
	frame, _ = protocol.JSON.AppendCommand(frame, &protocol.Command{ID: 1, Type: "connect", Token: ht.Token(t, user, nil)})
	frame = append(frame, '\n')
	frame, _ = protocol.JSON.AppendCommand(frame, &protocol.Command{ID: 2, Type: "subscribe", Channel: channel})
	c.WriteText(frame)
	return c
}

// TestStalledClientHears4001: a client that stops reading for longer than
// the write timeout (paused, not gone) is a slow consumer: when it reads
// again it gets the rest of the frame it was sent and a close frame with
// 4001, not a connection cut without a code.
func TestStalledClientHears4001(t *testing.T) {
	s := ht.Start(t, ht.Options{
		Hub:    hub.Config{WriteQueueMessages: 100000, WriteQueueBytes: 256 << 20},
		Server: server.Config{WriteTimeout: 500 * time.Millisecond},
	})
	slow := rawSubscriber(t, s, "slow", "plain")
	ht.Eventually(t, 2*time.Second, func() bool { return s.Hub.Channels("plain")["plain"] == 1 }, "subscribed")
	payload := []byte(`"` + strings.Repeat("x", 16<<10) + `"`)
	for i := 0; i < 1000 && s.Hub.Stats().SlowConsumers == 0; i++ { // 16 MB: more than the socket buffers hold
		if _, err := s.Hub.Publish(context.Background(), "plain", payload, ""); err != nil {
			t.Fatal(err)
		}
	}
	ht.Eventually(t, 5*time.Second, func() bool { return s.Hub.Stats().SlowConsumers == 1 }, "the stall noticed")
	for frames := 0; ; frames++ {
		f, err := slow.ReadFrame(10 * time.Second)
		if err != nil {
			t.Fatalf("no close frame after %d frames: %v", frames, err)
		}
		if f.Opcode == 8 {
			if f.CloseCode() != int(protocol.CloseSlowConsumer) {
				t.Fatalf("close code %d, want 4001", f.CloseCode())
			}
			break
		}
	}
	s.StillServes(t)
}

// TestNeverReadingHistoryReaders: connections of one user that ask for
// long histories and never read hold at most their queues' bounds each,
// and the node as a whole at most its outgoing budget: past it the
// largest are cut with 4001, while everyone else is served.
func TestNeverReadingHistoryReaders(t *testing.T) {
	const budget = 8 << 20
	s := ht.Start(t, ht.Options{Hub: hub.Config{
		Namespaces:      bigNamespaces(2000),
		WriteQueueBytes: 2 << 20, MaxOutgoingBytes: budget, ReadRate: -1,
	}})
	publishN(t, s, "big:h", 2000, 1000)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var conns []*ht.RawConn
	for range 40 {
		c := rawSubscriber(t, s, "reader", "big:h")
		_ = c.Conn.(*net.TCPConn).SetReadBuffer(4096) // a 4 KiB receive window
		var frame []byte
		for i := range 20 {
			if i > 0 {
				frame = append(frame, '\n')
			}
			frame, _ = protocol.JSON.AppendCommand(frame, &protocol.Command{ID: uint32(10 + i), Type: "history", Channel: "big:h", Limit: ptr(1900)})
		}
		c.WriteText(frame)
		conns = append(conns, c)
	}
	peak := int64(0)
	ht.Eventually(t, 10*time.Second, func() bool {
		peak = max(peak, s.Hub.Stats().OutgoingBytes)
		return s.Hub.Stats().SlowConsumers > 0
	}, "the largest readers cut")
	for range 20 {
		peak = max(peak, s.Hub.Stats().OutgoingBytes)
		time.Sleep(10 * time.Millisecond) // sampling, not synchronising
	}
	// A reply may land between two sweeps: allow the budget plus one
	// queue per connection still being cut.
	if peak < budget/2 || peak > budget+int64(len(conns))*(2<<20) {
		t.Fatalf("outgoing bytes peaked at %d, budget %d", peak, budget)
	}
	for _, c := range conns {
		c.Conn.Close()
	}
	ht.Eventually(t, 10*time.Second, func() bool { return s.Hub.Stats().OutgoingBytes == 0 }, "the readers' bytes let go (%d left)", s.Hub.Stats().OutgoingBytes)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 200<<20 {
		t.Fatalf("heap grew by %d MB", grown>>20)
	}
	s.StillServes(t)
}

func ptr[T any](v T) *T { return &v }
