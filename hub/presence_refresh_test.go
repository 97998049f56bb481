package hub_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// refreshGate is a memory broker whose AddPresence calls, once armed, wait
// for the gate and count how many wait at once: an engine with a round
// trip.
type refreshGate struct {
	*memory.Broker
	armed    atomic.Bool
	gate     chan struct{}
	mu       sync.Mutex
	inFlight int
	most     int
}

func (b *refreshGate) AddPresence(ctx context.Context, channel string, info *broker.ClientInfo, ttl time.Duration) error {
	if b.armed.Load() {
		b.mu.Lock()
		b.inFlight++
		b.most = max(b.most, b.inFlight)
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			b.inFlight--
			b.mu.Unlock()
		}()
		select {
		case <-b.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.Broker.AddPresence(ctx, channel, info, ttl)
}

func (b *refreshGate) counts() (inFlight, most int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight, b.most
}

// TestPresenceRefreshOverlapsRoundTrips: a refresh pass writes several
// entries at once, and never more than its bound. One at a time, a node
// with many entries spends an engine round trip on each, runs out of the
// third of the presence TTL a pass has, and lets the entries at the end
// of its list expire while their clients are connected.
func TestPresenceRefreshOverlapsRoundTrips(t *testing.T) {
	const clients, bound = 40, 16
	b := &refreshGate{Broker: memory.New(memory.Options{}), gate: make(chan struct{})}
	ns := hub.Namespace{Presence: true}
	h := hub.New(hub.Config{
		Anonymous:   true,
		Namespaces:  map[string]hub.Namespace{"": ns},
		PresenceTTL: 3 * time.Second, // a pass every second
	}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Shutdown(context.Background())
		b.Close()
	})
	sinks := make([]*collector, clients)
	for i := range sinks {
		sinks[i] = &collector{enc: protocol.JSON}
		c := h.NewClient(sinks[i], protocol.JSON, hub.Peer{Remote: "test"})
		t.Cleanup(c.Closed)
		c.HandleFrame(fmt.Appendf(nil, `{"id":1,"type":"connect"}`+"\n"+`{"id":2,"type":"subscribe","channel":"room%d"}`, i))
	}
	for i, s := range sinks {
		waitFor(t, func() bool { return len(s.messages()) == 2 }, "client %d's subscribe reply", i)
	}
	b.armed.Store(true)
	waitFor(t, func() bool { n, _ := b.counts(); return n == bound }, "%d entries refreshed at once", bound)
	close(b.gate)
	waitFor(t, func() bool { n, _ := b.counts(); return n == 0 }, "the pass to finish")
	if _, most := b.counts(); most != bound {
		t.Fatalf("%d entries were refreshed at once, want at most %d", most, bound)
	}
}
