package hub_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// gate is a Transport whose first write blocks until released, so that
// messages pile up behind it, as they do behind a slow socket.
type gate struct {
	mu      sync.Mutex
	release chan struct{}
	frames  [][]byte
	closed  chan protocol.CloseCode
}

func (g *gate) WriteFrame(parts [][]byte) error {
	g.mu.Lock()
	first := len(g.frames) == 0
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	g.frames = append(g.frames, b)
	g.mu.Unlock()
	if first {
		<-g.release
	}
	return nil
}

func (g *gate) Close(code protocol.CloseCode, _ string) { g.closed <- code }

// TestWriterCoalesces: what queues while a write is in progress goes out as
// one newline-separated frame, in order.
func TestWriterCoalesces(t *testing.T) {
	b := memory.New(memory.Options{})
	defer b.Close()
	h := hub.New(hub.Config{Anonymous: true, Namespaces: map[string]hub.Namespace{"": {AllowPublish: hub.AccessAny}}}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := &gate{release: make(chan struct{}), closed: make(chan protocol.CloseCode, 1)}
	c := h.NewClient(g, protocol.JSON, "test")
	c.HandleFrame([]byte(`{"id":1,"type":"connect"}` + "\n" + `{"id":2,"type":"subscribe","channel":"c"}`))
	for i := 0; i < 100; i++ {
		if _, err := h.Publish(context.Background(), "c", []byte(`1`), ""); err != nil {
			t.Fatal(err)
		}
	}
	close(g.release)
	c.Disconnect(protocol.NewDisconnect(protocol.CloseNormal, "done"))
	if code := <-g.closed; code != protocol.CloseNormal {
		t.Fatalf("closed with %d", code)
	}
	c.Closed()
	g.mu.Lock()
	defer g.mu.Unlock()
	// Frame 1 is whatever the writer took first (at least the connect
	// reply); everything queued behind it must fit in very few frames.
	if len(g.frames) > 3 {
		t.Fatalf("%d frames for 102 messages and a disconnect", len(g.frames))
	}
	all := strings.Join(func() []string {
		var s []string
		for _, f := range g.frames {
			s = append(s, string(f))
		}
		return s
	}(), "\n")
	if n := strings.Count(all, `"type":"message"`); n != 100 {
		t.Fatalf("%d messages delivered", n)
	}
	if !strings.HasSuffix(all, `{"type":"disconnect","code":1000,"reason":"done","reconnect":false}`) {
		t.Fatalf("disconnect push not last: ...%s", all[max(0, len(all)-120):])
	}
	h.Shutdown(context.Background())
}
