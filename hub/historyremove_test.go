package hub_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// gatedHistory is a memory broker whose stream reads from a position
// (recovery and catch-up pages) that match stall, before or after reading,
// until the gate opens: the test can act while a subscription is in the
// phase it wants.
type gatedHistory struct {
	*memory.Broker
	match func(since broker.StreamPosition) bool
	after bool // stall after reading, not before

	gate    chan struct{}
	waiting chan struct{} // closed when the first matching read stalls
	once    sync.Once
}

func (b *gatedHistory) History(ctx context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if opts.Since == nil || !b.match(*opts.Since) {
		return b.Broker.History(ctx, channel, opts)
	}
	stall := func() {
		b.once.Do(func() { close(b.waiting) })
		<-b.gate
	}
	if !b.after {
		stall()
	}
	pubs, pos, err := b.Broker.History(ctx, channel, opts)
	if b.after {
		stall()
	}
	return pubs, pos, err
}

// removeSetup is a hub on a gated broker with a channel of 50
// publications of about 200 bytes, and a client subscribing to it from
// its start, which stalls where gated says.
type removeSetup struct {
	h      *hub.Hub
	b      *gatedHistory
	sink   *collector
	client *hub.Client
	open   func() // opens the gate; idempotent
}

func startRemoveSetup(t *testing.T, queueBytes int, b *gatedHistory) *removeSetup {
	t.Helper()
	b.Broker = memory.New(memory.Options{})
	b.gate, b.waiting = make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { b.Broker.Close() })
	h := hub.New(hub.Config{
		Anonymous: true, WriteQueueBytes: queueBytes,
		Namespaces: map[string]hub.Namespace{"": {AllowPublish: hub.AccessAny, HistorySize: 100, HistoryTTL: time.Hour, Recover: true}},
	}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var opened sync.Once
	open := func() { opened.Do(func() { close(b.gate) }) }
	t.Cleanup(func() { open(); h.Shutdown(context.Background()) })
	var first protocol.PublishResult
	for i := range 50 {
		res, err := h.Publish(context.Background(), "ch", []byte(`"`+strings.Repeat("x", 200)+`"`), "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res
		}
	}
	s := &collector{enc: protocol.JSON}
	c := h.NewClient(s, protocol.JSON, hub.Peer{Remote: "test"})
	t.Cleanup(c.Closed)
	frame, _ := protocol.JSON.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
	c.HandleFrame(frame)
	frame, _ = protocol.JSON.AppendCommand(nil, &protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: "ch",
		Since: &protocol.StreamPosition{Offset: 0, Epoch: first.Epoch}})
	go c.HandleFrame(frame)
	select {
	case <-b.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("no read stalled")
	}
	return &removeSetup{h: h, b: b, sink: s, client: c, open: open}
}

// disconnect returns the disconnect push the client was sent, nil while
// none was.
func (s *collector) disconnect() *protocol.ServerMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.Type == protocol.PushDisconnect {
			return m
		}
	}
	return nil
}

func expectContinuityLost(t *testing.T, s *collector) {
	t.Helper()
	waitFor(t, func() bool { return s.disconnect() != nil }, "a disconnect push")
	if d := s.disconnect(); d.Code != int(protocol.CloseReconnect) || d.Reason != "stream continuity lost" {
		t.Fatalf("disconnect %+v, want 4000 stream continuity lost", d)
	}
}

// TestHistoryRemoveClosesCatchingUp: a subscription catching up (its
// reply said more: true and a page read is under way) is closed with 4000
// when the channel's history is removed, without waiting for that read.
func TestHistoryRemoveClosesCatchingUp(t *testing.T) {
	// A 4 KiB queue: a reply carries 1 KiB of publications, the rest is
	// caught up in pages, read from past offset 0.
	st := startRemoveSetup(t, 4096, &gatedHistory{match: func(p broker.StreamPosition) bool { return p.Offset > 0 }})
	waitFor(t, func() bool { return st.sink.reply(2) != nil }, "the subscribe reply")
	var r protocol.SubscribeResult
	if err := st.sink.reply(2).DecodeResult(&r); err != nil || !r.More {
		t.Fatalf("subscribe: %+v %v, want more: true", r, err)
	}
	if err := st.h.RemoveHistory(context.Background(), "ch"); err != nil {
		t.Fatal(err)
	}
	expectContinuityLost(t, st.sink) // the page read still stalls
}

// TestCatchUpFindsRemovedStream: a catch-up whose stream was removed
// behind the hub's back (no control message: the engine lost it) closes
// the connection with 4000 at its next page read.
func TestCatchUpFindsRemovedStream(t *testing.T) {
	st := startRemoveSetup(t, 4096, &gatedHistory{match: func(p broker.StreamPosition) bool { return p.Offset > 0 }})
	if err := st.b.Broker.RemoveHistory(context.Background(), "ch"); err != nil {
		t.Fatal(err)
	}
	if st.sink.disconnect() != nil {
		t.Fatal("closed before the page read")
	}
	st.open()
	expectContinuityLost(t, st.sink)
}

// TestHistoryRemoveClosesPendingSubscribe: a subscribe whose recovery read
// the old stream before its history was removed, its reply not sent yet,
// ends with 4000: its reply carries the old epoch, and without the close
// nothing would tell the client until the channel's next publication. (The
// disconnect push goes out once the subscribe is done: the reader holds
// the writer back while it handles a frame.)
func TestHistoryRemoveClosesPendingSubscribe(t *testing.T) {
	st := startRemoveSetup(t, 4<<20, &gatedHistory{match: func(broker.StreamPosition) bool { return true }, after: true})
	if err := st.h.RemoveHistory(context.Background(), "ch"); err != nil {
		t.Fatal(err)
	}
	st.open()
	expectContinuityLost(t, st.sink)
}
