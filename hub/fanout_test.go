package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// tryConn is a Transport that writes without waiting, whose socket is full every other time
// a frame is tried: it then takes half of the frame and keeps the rest for
// Flush. It records the bytes in the order a socket would send them.
type tryConn struct {
	mu      sync.Mutex
	tries   int
	sent    []byte
	pending []byte
	bad     string // the first broken rule, if any
}

func (c *tryConn) Writes() hub.Writes {
	return hub.Writes{Frame: c.WriteFrame, TryFrame: c.TryWriteFrame, Flush: c.Flush}
}

func (c *tryConn) TryWriteFrame(parts [][]byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 && c.bad == "" {
		c.bad = "a frame was tried before the pending one was flushed"
	}
	frame := append(bytes.Join(parts, nil), '\n')
	c.tries++
	if c.tries%2 == 0 {
		c.sent = append(c.sent, frame...)
		return true, nil
	}
	c.sent = append(c.sent, frame[:len(frame)/2]...)
	c.pending = append(c.pending, frame[len(frame)/2:]...)
	return false, nil
}

func (c *tryConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, c.pending...)
	c.pending = nil
	return nil
}

func (c *tryConn) WriteFrame(parts [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 && c.bad == "" {
		c.bad = "a frame was written before the pending one was flushed"
	}
	c.sent = append(c.sent, append(bytes.Join(parts, nil), '\n')...)
	return nil
}

func (c *tryConn) Close(protocol.CloseCode, string) {}

// count returns how many times want occurs in what was sent.
func (c *tryConn) count(want string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Count(c.sent, []byte(want))
}

// TestFanoutTryWrites: publications fanned out to transports that write
// without blocking reach every subscriber whole and in order, also when
// the socket takes only part of a frame and a writer goroutine finishes it.
func TestFanoutTryWrites(t *testing.T) {
	const subscribers, publications = 600, 30 // more than one chunk of writes
	h := openHub(t)
	conns := make([]*tryConn, subscribers)
	for i := range conns {
		conns[i] = &tryConn{}
		c := h.NewClient(conns[i], protocol.JSON, hub.Peer{Remote: "test"})
		defer c.Closed()
		c.HandleFrame([]byte(`{"id":1,"type":"connect"}` + "\n" + `{"id":2,"type":"subscribe","channel":"c"}`))
	}
	for i := range conns {
		waitFor(t, func() bool { return conns[i].count(`"id":2`) == 1 }, "subscribe reply %d", i)
	}
	for n := range publications {
		if _, err := h.Publish(context.Background(), "c", []byte(fmt.Sprintf(`{"n":%d}`, n)), ""); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprintf(`{"n":%d}`, publications-1)
	for i, c := range conns {
		waitFor(t, func() bool { return c.count(last) == 1 }, "last publication at subscriber %d", i)
		c.mu.Lock()
		sent, bad := string(c.sent), c.bad
		c.mu.Unlock()
		if bad != "" {
			t.Fatalf("subscriber %d: %s", i, bad)
		}
		at := 0
		for n := range publications {
			next := bytes.Index([]byte(sent[at:]), []byte(fmt.Sprintf(`{"n":%d}`, n)))
			if next < 0 {
				t.Fatalf("subscriber %d: publication %d missing or out of order in %q", i, n, sent)
			}
			at += next
		}
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	wait.For(t, 5*time.Second, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("waiting for "+format, args...)
	})
}
