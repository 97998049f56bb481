package hub_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// openHubWith runs a hub on a memory broker whose default namespace keeps
// history, anyone publishing, with cfg's limits, shut down with the test.
func openHubWith(t *testing.T, cfg hub.Config) *hub.Hub {
	t.Helper()
	b := memory.New(memory.Options{})
	cfg.Anonymous = true
	if cfg.Namespaces == nil {
		cfg.Namespaces = map[string]hub.Namespace{"": {AllowPublish: hub.AccessAny, HistorySize: 100000, HistoryTTL: 3600e9, Recover: true}}
	}
	h := hub.New(cfg, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Shutdown(context.Background())
		b.Close()
	})
	return h
}

// valve is a Transport that holds every write until opened, as a socket
// whose peer reads nothing, and records what was written.
type valve struct {
	enc    protocol.Encoding
	open   chan struct{}
	mu     sync.Mutex
	msgs   []*protocol.ServerMessage
	closed chan protocol.CloseCode
}

func newValve(enc protocol.Encoding) *valve {
	return &valve{enc: enc, open: make(chan struct{}), closed: make(chan protocol.CloseCode, 1)}
}

func (v *valve) Writes() hub.Writes { return hub.Writes{Frame: v.WriteFrame} }

func (v *valve) WriteFrame(parts [][]byte) error {
	<-v.open
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.enc.DecodeServerFrame(b, func(m *protocol.ServerMessage) error {
		v.msgs = append(v.msgs, m)
		return nil
	})
}

func (v *valve) Close(code protocol.CloseCode, _ string) {
	select {
	case v.closed <- code:
	default:
	}
}

// connectTo connects c anonymously and subscribes it to channels, in one
// frame, without waiting for the writes (the valve may hold them).
func connectTo(t *testing.T, c *hub.Client, enc protocol.Encoding, channels ...string) {
	t.Helper()
	frame, _ := enc.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
	for i, ch := range channels {
		frame = append(frame, enc.Separator()...)
		frame, _ = enc.AppendCommand(frame, &protocol.Command{ID: uint32(2 + i), Type: protocol.TypeSubscribe, Channel: ch})
	}
	done := make(chan struct{})
	go func() { c.HandleFrame(frame); close(done) }()
	t.Cleanup(func() { <-done })
}

// TestOverflowNeverSkips: messages alternating between large and small
// overflow a slow client's queue. Whatever fits after the refused message
// must never be written: the client receives, on every channel, an
// unbroken run of offsets from the first, then the 4001 disconnect, and
// nothing after it. Two channels are published at once so that the
// overflow races other deliveries.
func TestOverflowNeverSkips(t *testing.T) {
	for i := range 100 {
		enc := protocol.Encoding(i % 2)
		t.Run(fmt.Sprint(i), func(t *testing.T) { testOverflowNeverSkips(t, enc) })
	}
}

func testOverflowNeverSkips(t *testing.T, enc protocol.Encoding) {
	h := openHubWith(t, hub.Config{WriteQueueMessages: 1000, WriteQueueBytes: 8<<10 + rand.IntN(8<<10)})
	v := newValve(enc)
	c := h.NewClient(v, enc, hub.Peer{Remote: "test"})
	defer c.Closed()
	connectTo(t, c, enc, "a", "b")
	waitFor(t, func() bool { return len(h.Channels("")) == 2 }, "both subscribed")
	big := []byte(`"` + strings.Repeat("x", 2000) + `"`)
	small := []byte(`1`)
	var wg sync.WaitGroup
	for _, ch := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				data := small
				if i%2 == 0 {
					data = big
				}
				if _, err := h.Publish(context.Background(), ch, data, ""); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	close(v.open)
	if code := <-v.closed; code != protocol.CloseSlowConsumer {
		t.Fatalf("closed with %d, want 4001", code)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	last := map[string]uint64{}
	for i, m := range v.msgs {
		switch {
		case m.ID != 0:
		case m.Type == protocol.PushMessage:
			if m.Offset != last[m.Channel]+1 {
				t.Fatalf("%s: offset %d after %d", m.Channel, m.Offset, last[m.Channel])
			}
			last[m.Channel] = m.Offset
		case m.Type == protocol.PushDisconnect:
			if m.Code != int(protocol.CloseSlowConsumer) || i != len(v.msgs)-1 {
				t.Fatalf("disconnect %+v at %d of %d", m, i, len(v.msgs))
			}
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	if got := v.msgs[len(v.msgs)-1]; got.Type != protocol.PushDisconnect {
		t.Fatalf("last message %+v", got)
	}
}
