package hub_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// slowRound makes one fan-out write take long: once armed, the TryFrame
// call numbered at waits until open is closed, as the last write of a
// fan-out on a busy machine.
type slowRound struct {
	armed atomic.Bool
	calls atomic.Int32
	at    int32
	open  chan struct{}
}

// frameConn is a Transport that writes without waiting and records each
// frame it is given.
type frameConn struct {
	round  *slowRound
	mu     sync.Mutex
	frames []string
}

func (c *frameConn) Writes() hub.Writes {
	return hub.Writes{Frame: c.frame, TryFrame: c.tryFrame, Flush: func() error { return nil }}
}

func (c *frameConn) frame(parts [][]byte) error {
	_, err := c.tryFrame(parts)
	return err
}

func (c *frameConn) tryFrame(parts [][]byte) (bool, error) {
	if c.round.armed.Load() && c.round.calls.Add(1) == c.round.at {
		<-c.round.open
	}
	var b strings.Builder
	for _, p := range parts {
		b.Write(p)
	}
	c.mu.Lock()
	c.frames = append(c.frames, b.String())
	c.mu.Unlock()
	return true, nil
}

func (c *frameConn) Close(protocol.CloseCode, string) {}

// sent returns the frames written after the first skip.
func (c *frameConn) sent(skip int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.frames[skip:]...)
}

// TestPublicationsDuringAFanoutShareAFrame: publications made through the
// server API while the channel's previous fan-out is still writing reach
// each subscriber together, in one frame, after that fan-out ends; the
// ones it had written already get nothing in between. Each API
// publication used to start writing its subscribers at once: N
// publications, N frames per subscriber.
func TestPublicationsDuringAFanoutShareAFrame(t *testing.T) {
	const subscribers, publications = 20, 8 // one chunk of fan-out writes
	h := openHub(t)
	round := &slowRound{at: subscribers, open: make(chan struct{})}
	conns := make([]*frameConn, subscribers)
	for i := range conns {
		conns[i] = &frameConn{round: round}
		c := h.NewClient(conns[i], protocol.JSON, hub.Peer{Remote: "test"})
		defer c.Closed()
		c.HandleFrame([]byte(`{"id":1,"type":"connect"}` + "\n" + `{"id":2,"type":"subscribe","channel":"c"}`))
	}
	for i, c := range conns {
		waitFor(t, func() bool { s := c.sent(0); return len(s) == 1 && strings.Contains(s[0], `"id":2`) }, "subscribe reply %d", i)
	}
	release := sync.OnceFunc(func() { close(round.open) })
	defer release() // before the clients close, should the test fail early
	round.armed.Store(true)
	publish := func(n int) {
		t.Helper()
		if _, err := h.Publish(context.Background(), "c", []byte(fmt.Sprintf(`{"n":%d}`, n)), ""); err != nil {
			t.Fatal(err)
		}
	}
	// The first publication's fan-out writes every subscriber but the
	// last, whose write takes long.
	publish(0)
	waitFor(t, func() bool { return round.calls.Load() == subscribers }, "the first fan-out's writes")
	// Each from a goroutine of its own, as the API's requests come.
	for n := 1; n < publications; n++ {
		done := make(chan error)
		go func() {
			_, err := h.Publish(context.Background(), "c", []byte(fmt.Sprintf(`{"n":%d}`, n)), "")
			done <- err
		}()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		if sent := c.sent(1); len(sent) > 1 {
			t.Fatalf("subscriber %d: written while the channel's fan-out before was writing: %q", i, sent)
		}
	}
	release()
	last := fmt.Sprintf(`{"n":%d}`, publications-1)
	for i, c := range conns {
		waitFor(t, func() bool {
			sent := c.sent(1)
			return len(sent) > 0 && strings.Contains(sent[len(sent)-1], last)
		}, "the last publication at subscriber %d", i)
		sent := c.sent(1)
		if len(sent) != 2 || !strings.Contains(sent[0], `{"n":0}`) || strings.Count(sent[1], `"type":"message"`) != publications-1 {
			t.Fatalf("subscriber %d: frames %q, want publication 0, then the %d others in one frame", i, sent, publications-1)
		}
		for n := 1; n < publications; n++ {
			if !strings.Contains(sent[1], fmt.Sprintf(`{"n":%d}`, n)) {
				t.Fatalf("subscriber %d: publication %d missing from %q", i, n, sent[1])
			}
		}
	}
}
