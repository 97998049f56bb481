package hub_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// stuckHistory is a memory broker whose stream reads, once stuck is set,
// answer only when their context ends, as an engine that stopped
// answering would.
type stuckHistory struct {
	*memory.Broker
	stuck    atomic.Bool
	waiting  chan struct{} // receives once per read that got stuck
	returned atomic.Int32  // stuck reads that have returned
}

func (b *stuckHistory) History(ctx context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if !b.stuck.Load() {
		return b.Broker.History(ctx, channel, opts)
	}
	b.waiting <- struct{}{}
	<-ctx.Done()
	b.returned.Add(1)
	return nil, broker.StreamPosition{}, ctx.Err()
}

// stuckProxy lets in connects named "ok" and holds every other one until
// its context ends; it then takes a little longer to return, as a backend
// client cleaning up would.
type stuckProxy struct {
	waiting  chan struct{}
	returned atomic.Bool
}

func (p *stuckProxy) Connect(ctx context.Context, req *hub.ConnectRequest) (*auth.ConnectClaims, error) {
	if req.Name == "ok" {
		return &auth.ConnectClaims{}, nil
	}
	p.waiting <- struct{}{}
	<-ctx.Done()
	time.Sleep(50 * time.Millisecond)
	p.returned.Store(true)
	return nil, ctx.Err()
}

// jam is a Transport that writes until jammed, then blocks every write
// until it is closed, as a socket whose peer stopped reading.
type jam struct {
	jammed    atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once
	writing   chan struct{} // receives when a write is stuck
	returned  atomic.Bool   // a stuck write has returned
}

func newJam() *jam {
	return &jam{closed: make(chan struct{}), writing: make(chan struct{}, 1)}
}

func (j *jam) Writes() hub.Writes { return hub.Writes{Frame: j.writeFrame} }

func (j *jam) writeFrame([][]byte) error {
	if !j.jammed.Load() {
		return nil
	}
	select {
	case j.writing <- struct{}{}:
	default:
	}
	<-j.closed
	j.returned.Store(true)
	return hub.ErrTransportClosed
}

func (j *jam) Close(protocol.CloseCode, string) { j.closeOnce.Do(func() { close(j.closed) }) }

// TestShutdownEndsWhatTheHubStarted: Shutdown, with a resync stuck on the
// engine, a connect proxy call stuck on the backend and a writer stuck on
// a peer that reads nothing, cancels them all and returns only once the
// resync and the proxy call have returned, leaving none of the hub's
// goroutines behind. The broker timeout is long: only Shutdown ends them.
func TestShutdownEndsWhatTheHubStarted(t *testing.T) {
	before := goleak.IgnoreCurrent()
	b := &stuckHistory{Broker: memory.New(memory.Options{}), waiting: make(chan struct{}, 4)}
	proxy := &stuckProxy{waiting: make(chan struct{}, 1)}
	h := hub.New(hub.Config{
		Namespaces:     map[string]hub.Namespace{"": {HistorySize: 10, HistoryTTL: time.Hour, Recover: true}},
		BrokerTimeout:  time.Minute,
		ConnectTimeout: time.Minute,
		ConnectProxy:   proxy,
	}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A subscriber whose peer stops reading: its writer is stuck.
	enc := protocol.JSON
	peer := newJam()
	sub := h.NewClient(peer, enc, hub.Peer{Remote: "test"})
	frame, _ := enc.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect, Name: "ok"})
	frame = append(frame, enc.Separator()...)
	frame, _ = enc.AppendCommand(frame, &protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: "a"})
	sub.HandleFrame(frame)
	waitFor(t, func() bool { return h.Channels("")["a"] == 1 }, "the subscribe")
	peer.jammed.Store(true)
	if _, err := h.Publish(context.Background(), "a", []byte(`1`), ""); err != nil {
		t.Fatal(err)
	}
	<-peer.writing

	// A resync stuck reading the stream.
	b.stuck.Store(true)
	h.HandleReconnect()
	<-b.waiting

	// A connect stuck in the proxy, on its reader.
	asking := h.NewClient(&collector{enc: enc}, enc, hub.Peer{Remote: "test"})
	frame, _ = enc.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect, Name: "stuck"})
	reader := make(chan struct{})
	go func() { asking.HandleFrame(frame); close(reader) }()
	<-proxy.waiting

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- h.Shutdown(ctx) }()
	select {
	case <-stopped: // ctx's error: the jammed peer never drained
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown waited for the broker timeout")
	}
	if b.returned.Load() != 1 {
		t.Error("Shutdown returned before the resync's stream read")
	}
	if !proxy.returned.Load() {
		t.Error("Shutdown returned before the connect proxy call")
	}
	if !peer.returned.Load() {
		t.Error("Shutdown returned before the stuck writer")
	}
	<-reader
	asking.Closed() // the reader's last act, as a transport's
	b.Close()
	goleak.VerifyNone(t, before)
}

// TestNewClientDuringShutdown: a connection whose handshake finished after
// Shutdown took its list of clients is told to reconnect (1001) at once,
// instead of holding up the drain until its deadline.
func TestNewClientDuringShutdown(t *testing.T) {
	h := openHubWith(t, hub.Config{})
	enc := protocol.JSON
	// A client that never drains keeps the shutdown going.
	peer := newJam()
	peer.jammed.Store(true)
	stuck := h.NewClient(peer, enc, hub.Peer{Remote: "test"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- h.Shutdown(ctx) }()
	waitFor(t, h.Draining, "the shutdown")

	late := &collector{enc: enc}
	c := h.NewClient(late, enc, hub.Peer{Remote: "test"})
	waitFor(t, func() bool {
		late.mu.Lock()
		defer late.mu.Unlock()
		return len(late.msgs) == 1 && late.msgs[0].Type == protocol.PushDisconnect && late.msgs[0].Code == int(protocol.CloseGoingAway)
	}, "the late client's 1001 disconnect push")
	c.Closed()
	peer.Close(0, "")
	stuck.Closed()
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// countingBroker is a memory broker that counts its Unsubscribe calls.
type countingBroker struct {
	*memory.Broker
	unsubscribes atomic.Int32
}

func (b *countingBroker) Unsubscribe(ctx context.Context, channel string) error {
	b.unsubscribes.Add(1)
	return b.Broker.Unsubscribe(ctx, channel)
}

// TestShutdownLeavesPresenceWithoutUnsubscribing: the drain removes every
// client's presence entry, which other nodes see, but does not unsubscribe
// the node's channels at the broker one by one (closing the broker ends
// them); an unsubscribe before the drain still reaches the broker.
func TestShutdownLeavesPresenceWithoutUnsubscribing(t *testing.T) {
	b := &countingBroker{Broker: memory.New(memory.Options{})}
	defer b.Close()
	h := hub.New(hub.Config{
		Anonymous:  true,
		Namespaces: map[string]hub.Namespace{"": {Presence: true}},
	}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	enc := protocol.JSON
	const n = 20
	clients := make([]*hub.Client, n)
	for i := range clients {
		clients[i] = h.NewClient(&collector{enc: enc}, enc, hub.Peer{Remote: "test"})
		channel := "c" + strconv.Itoa(i)
		frame, _ := enc.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
		frame = append(frame, enc.Separator()...)
		frame, _ = enc.AppendCommand(frame, &protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: channel})
		frame = append(frame, enc.Separator()...)
		frame, _ = enc.AppendCommand(frame, &protocol.Command{ID: 3, Type: protocol.TypeSubscribe, Channel: "shared"})
		clients[i].HandleFrame(frame)
	}
	waitFor(t, func() bool { return h.Channels("")["shared"] == n && len(h.Channels("")) == n+1 }, "the subscribes")
	frame, _ := enc.AppendCommand(nil, &protocol.Command{ID: 4, Type: protocol.TypeUnsubscribe, Channel: "c0"})
	clients[0].HandleFrame(frame)
	waitFor(t, func() bool { return b.unsubscribes.Load() == 1 }, "the unsubscribe before the drain")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- h.Shutdown(ctx) }()
	waitFor(t, h.Draining, "the drain")
	for _, c := range clients { // as each transport does once closed
		c.Closed()
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got := b.unsubscribes.Load(); got != 1 {
		t.Errorf("broker unsubscribes: %d, want only the one before the drain", got)
	}
	for _, channel := range []string{"shared", "c1", "c19"} {
		entries, err := b.Presence(context.Background(), channel)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("%s: %d presence entries left after the drain", channel, len(entries))
		}
	}
}
