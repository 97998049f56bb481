package hub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// slowBroker is a memory broker whose publishes to channels named "slow…"
// and history reads wait until the gate opens (or their context ends), as
// an engine that is slow to answer.
type slowBroker struct {
	*memory.Broker
	gate    chan struct{}
	waiting chan struct{} // receives each time a call starts waiting
}

func (b *slowBroker) stall(ctx context.Context) error {
	b.waiting <- struct{}{}
	select {
	case <-b.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *slowBroker) Publish(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	if strings.HasPrefix(channel, "slow") {
		if err := b.stall(ctx); err != nil {
			return broker.StreamPosition{}, false, err
		}
	}
	return b.Broker.Publish(ctx, channel, pub, opts)
}

func (b *slowBroker) History(ctx context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if strings.HasPrefix(channel, "slow") {
		if err := b.stall(ctx); err != nil {
			return nil, broker.StreamPosition{}, err
		}
	}
	return b.Broker.History(ctx, channel, opts)
}

// TestSlowCommandsDoNotHoldLiveMessages: while a client's frame waits for
// the broker (a publish and a history read that take long), a publication
// to a channel it is subscribed to reaches it at once, not after the
// frame's commands have all finished. The reader used to hold the writer
// back for the whole frame.
func TestSlowCommandsDoNotHoldLiveMessages(t *testing.T) {
	b := &slowBroker{Broker: memory.New(memory.Options{}), gate: make(chan struct{}), waiting: make(chan struct{}, 4)}
	ns := hub.Namespace{AllowPublish: hub.AccessAny, HistorySize: 10, HistoryTTL: 3600e9}
	h := hub.New(hub.Config{Anonymous: true, Namespaces: map[string]hub.Namespace{"": ns}}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Shutdown(context.Background())
		b.Close()
	})
	sink := &collector{enc: protocol.JSON}
	c := h.NewClient(sink, protocol.JSON, hub.Peer{Remote: "test"})
	defer c.Closed()
	c.HandleFrame([]byte(`{"id":1,"type":"connect"}` + "\n" + `{"id":2,"type":"subscribe","channel":"live"}`))
	waitFor(t, func() bool { return len(sink.messages()) == 2 }, "the subscribe reply")

	handled := make(chan struct{})
	go func() {
		defer close(handled)
		c.HandleFrame([]byte(`{"id":3,"type":"publish","channel":"slow","data":1}` + "\n" +
			`{"id":4,"type":"history","channel":"slow"}`))
	}()
	<-b.waiting // the publish waits for the broker
	if _, err := h.Publish(context.Background(), "live", []byte(`"now"`), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, m := range sink.messages() {
			if m.Type == protocol.PushMessage && string(m.Data) == `"now"` {
				return true
			}
		}
		return false
	}, "the live publication while the frame waits for the broker")
	close(b.gate)
	<-handled
	waitFor(t, func() bool { return len(sink.messages()) == 5 }, "the replies")
	var got []string
	for _, m := range sink.messages() {
		got = append(got, fmt.Sprintf("%s#%d", m.Type, m.ID))
	}
	if want := "#1 #2 message#0 #3 #4"; strings.Join(got, " ") != want {
		t.Fatalf("got %s, want %s", strings.Join(got, " "), want)
	}
}

// messages returns what was written so far.
func (s *collector) messages() []*protocol.ServerMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*protocol.ServerMessage(nil), s.msgs...)
}
