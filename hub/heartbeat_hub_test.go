package hub

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// beatConn is a JSON client's transport that counts the pings written to
// it and records how it was closed; with pongs set, each ping is handed
// there for an answer.
type beatConn struct {
	c      *Client
	pings  atomic.Int64
	pongs  chan<- *beatConn
	mu     sync.Mutex
	code   protocol.CloseCode
	closed time.Time
}

func (b *beatConn) Writes() Writes { return Writes{Frame: b.frame} }

func (b *beatConn) frame(parts [][]byte) error {
	for _, p := range parts {
		if n := bytes.Count(p, []byte(`"type":"ping"`)); n > 0 {
			b.pings.Add(int64(n))
			if b.pongs != nil {
				b.pongs <- b
			}
		}
	}
	return nil
}

func (b *beatConn) Close(code protocol.CloseCode, _ string) {
	b.mu.Lock()
	if b.code == 0 {
		b.code, b.closed = code, time.Now()
	}
	b.mu.Unlock()
	b.c.Closed()
}

func (b *beatConn) closeCode() (protocol.CloseCode, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.code, b.closed
}

// beatHub starts an anonymous hub with the given heartbeat delays.
func beatHub(t *testing.T, ping, pong time.Duration) *Hub {
	t.Helper()
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	h := New(Config{Anonymous: true, PingInterval: ping, PongTimeout: pong, ConnectTimeout: pong,
		Namespaces: map[string]Namespace{"": {}}, CommandRate: 1e9, CommandBurst: 1 << 30}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return h
}

// connect makes a connected client on b, subscribed to its own channel.
func (h *Hub) connectBeat(b *beatConn, channel string) {
	b.c = h.NewClient(b, protocol.JSON, Peer{Remote: "test"})
	b.c.HandleFrame(fmt.Appendf(nil, `{"id":1,"type":"connect"}`+"\n"+`{"id":2,"type":"subscribe","channel":%q}`, channel))
}

// TestUnansweredPingCloses4002: a client that stops answering is closed
// with 4002 once the ping interval and the pong timeout have passed, and
// not much later; and it leaves the wheel.
func TestUnansweredPingCloses4002(t *testing.T) {
	const ping, pong = 300 * time.Millisecond, 200 * time.Millisecond
	h := beatHub(t, ping, pong)
	b := &beatConn{}
	start := time.Now()
	h.connectBeat(b, "quiet")
	if h.beats.size() != 1 {
		t.Fatalf("wheel holds %d clients, want 1", h.beats.size())
	}
	wait.For(t, 5*time.Second, func() error {
		if code, _ := b.closeCode(); code == 0 {
			return fmt.Errorf("open after %v", time.Since(start))
		}
		return nil
	})
	code, at := b.closeCode()
	took := at.Sub(start)
	// Early by at most a tick (the ping, 15 ms here); late by the slack a
	// loaded test machine needs.
	if code != protocol.CloseHeartbeatTimeout || took < ping+pong-h.beats.tick || took > ping+pong+time.Second {
		t.Fatalf("closed with %d after %v, want %d after %v", code, took, protocol.CloseHeartbeatTimeout, ping+pong)
	}
	if b.pings.Load() != 1 {
		t.Fatalf("%d pings before the close, want 1", b.pings.Load())
	}
	wait.For(t, 5*time.Second, func() error {
		if n := h.beats.size(); n != 0 {
			return fmt.Errorf("wheel holds %d clients after the close", n)
		}
		return nil
	})
}

// TestHeartbeatsKeepManyClients: 10,000 clients that connected together
// and answer every ping keep being pinged, interval after interval, and
// none is closed; every one leaves the wheel when it closes.
func TestHeartbeatsKeepManyClients(t *testing.T) {
	const n = 10000
	// A pong timeout long enough for a loaded machine under -race: the
	// test is that pings go on, not how fast they are answered.
	const ping, pong = time.Second, 5 * time.Second
	pongs := make(chan *beatConn, n) // one ping in flight per client
	var answerers sync.WaitGroup
	for range 4 {
		answerers.Add(1)
		go func() {
			defer answerers.Done()
			for b := range pongs {
				b.c.HandleFrame([]byte(`{"type":"pong"}`))
			}
		}()
	}
	// After the hub's shutdown (cleanups run last first): no ping after.
	t.Cleanup(func() {
		close(pongs)
		answerers.Wait()
	})
	h := beatHub(t, ping, pong)
	conns := make([]*beatConn, n)
	for i := range conns {
		conns[i] = &beatConn{pongs: pongs}
		h.connectBeat(conns[i], fmt.Sprint("own", i))
	}
	wait.For(t, 60*time.Second, func() error {
		least := int64(1 << 62)
		for i, b := range conns {
			if code, _ := b.closeCode(); code != 0 {
				t.Fatalf("client %d closed with %d", i, code)
			}
			least = min(least, b.pings.Load())
		}
		if least < 3 {
			return fmt.Errorf("a client has had %d pings, want 3", least)
		}
		return nil
	})
	for _, b := range conns {
		b.c.Disconnect(protocol.DisconnectForbidden)
	}
	wait.For(t, 30*time.Second, func() error {
		if got := h.beats.size(); got != 0 {
			return fmt.Errorf("wheel holds %d clients after they all closed", got)
		}
		return nil
	})
}

// TestNextPingAfterPong: the next ping comes one interval after the pong
// that answered the last, never sooner, and the answered client stays.
func TestNextPingAfterPong(t *testing.T) {
	const ping, pong = 300 * time.Millisecond, 200 * time.Millisecond
	h := beatHub(t, ping, pong)
	b := &beatConn{}
	h.connectBeat(b, "answering")
	for i := int64(1); i <= 3; i++ {
		wait.For(t, 5*time.Second, func() error {
			if got := b.pings.Load(); got < i {
				return fmt.Errorf("%d pings, waiting for %d", got, i)
			}
			return nil
		})
		answered := time.Now()
		b.c.HandleFrame([]byte(`{"type":"pong"}`))
		wait.For(t, 5*time.Second, func() error {
			if code, _ := b.closeCode(); code != 0 {
				t.Fatalf("closed with %d though every ping was answered", code)
			}
			if got := b.pings.Load(); got <= i {
				return fmt.Errorf("%d pings, waiting for %d", got, i+1)
			}
			return nil
		})
		// A ping may come up to a tick early, never sooner.
		if gap := time.Since(answered); gap < ping-h.beats.tick {
			t.Fatalf("ping %d came %v after the pong, want %v", i+1, gap, ping)
		}
	}
}
