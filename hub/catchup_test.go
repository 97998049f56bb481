package hub_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// slowHistory is a memory broker whose recovery reads (History with
// Since) wait until released, counting how many run at once.
type slowHistory struct {
	*memory.Broker
	release chan struct{}
	running atomic.Int32
	peak    atomic.Int32
}

func (b *slowHistory) History(ctx context.Context, channel string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if opts.Since != nil {
		n := b.running.Add(1)
		defer b.running.Add(-1)
		for {
			p := b.peak.Load()
			if n <= p || b.peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-b.release // past the broker timeout too: a slot stays taken
	}
	return b.Broker.History(ctx, channel, opts)
}

// collector is a Transport that decodes and keeps everything written.
type collector struct {
	enc  protocol.Encoding
	mu   sync.Mutex
	msgs []*protocol.ServerMessage
}

func (s *collector) Writes() hub.Writes { return hub.Writes{Frame: s.WriteFrame} }

func (s *collector) WriteFrame(parts [][]byte) error {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enc.DecodeServerFrame(b, func(m *protocol.ServerMessage) error {
		s.msgs = append(s.msgs, m)
		return nil
	})
}

func (s *collector) Close(protocol.CloseCode, string) {}

// reply returns the reply with id, nil while none came.
func (s *collector) reply(id uint32) *protocol.ServerMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// TestRecoveryReadsAreBounded: recovery reads run in at most
// MaxConcurrentCatchups slots per node; a subscribe that cannot get one
// within the broker timeout is answered with the temporary error 100, and
// the others complete once the engine answers.
func TestRecoveryReadsAreBounded(t *testing.T) {
	mb := memory.New(memory.Options{})
	defer mb.Close()
	b := &slowHistory{Broker: mb, release: make(chan struct{})}
	h := hub.New(hub.Config{
		Anonymous: true, MaxConcurrentCatchups: 2, BrokerTimeout: 300 * time.Millisecond,
		Namespaces: map[string]hub.Namespace{"": {AllowPublish: hub.AccessAny, HistorySize: 100, HistoryTTL: time.Hour, Recover: true}},
	}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	res, err := h.Publish(context.Background(), "ch", []byte(`1`), "")
	if err != nil {
		t.Fatal(err)
	}
	var sinks []*collector
	for i := range 3 {
		s := &collector{enc: protocol.JSON}
		c := h.NewClient(s, protocol.JSON, hub.Peer{Remote: "test"})
		defer c.Closed()
		frame, _ := protocol.JSON.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
		c.HandleFrame(frame)
		frame, _ = protocol.JSON.AppendCommand(nil, &protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: "ch",
			Since: &protocol.StreamPosition{Offset: 0, Epoch: res.Epoch}})
		go c.HandleFrame(frame)
		sinks = append(sinks, s)
		if i < 2 {
			waitFor(t, func() bool { return b.running.Load() == int32(i+1) }, "recovery read %d running", i+1)
		}
	}
	// The third waits for a slot past the broker timeout.
	waitFor(t, func() bool { return sinks[2].reply(2) != nil }, "the third subscribe answered")
	if e := sinks[2].reply(2).Error; e == nil || e.Code != protocol.CodeInternal || !e.Temporary {
		t.Fatalf("third subscribe: %+v, want 100 temporary", sinks[2].reply(2))
	}
	close(b.release)
	for i, s := range sinks[:2] {
		waitFor(t, func() bool { return s.reply(2) != nil }, "subscribe %d answered", i)
		var r protocol.SubscribeResult
		if err := s.reply(2).DecodeResult(&r); err != nil || r.Recovered == nil || !*r.Recovered || len(r.Publications) != 1 {
			t.Fatalf("subscribe %d: %+v %v", i, r, err)
		}
	}
	if p := b.peak.Load(); p != 2 {
		t.Fatalf("%d recovery reads at once, want at most 2", p)
	}
}

// TestUnsentReplyLeavesNoSubscription: a connect whose reply cannot be
// sent (here: larger than the client's whole write queue) is refused and
// closed, and leaves no subscription behind.
func TestUnsentReplyLeavesNoSubscription(t *testing.T) {
	mb := memory.New(memory.Options{})
	defer mb.Close()
	h := hub.New(hub.Config{
		WriteQueueBytes: 600, Inbox: broker.StreamOptions{Size: 10, TTL: time.Hour},
		Namespaces: map[string]hub.Namespace{"": {}},
	}, mb, staticTokens{user: "u"})
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	s := &collector{enc: protocol.JSON}
	c := h.NewClient(s, protocol.JSON, hub.Peer{Remote: "test"})
	defer c.Closed()
	subs := map[string]protocol.SubscribeSince{}
	for i := range 20 {
		subs[fmt.Sprintf("channel-with-a-long-name-%02d", i)] = protocol.SubscribeSince{}
	}
	frame, _ := protocol.JSON.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect, Token: "t", Subs: subs})
	c.HandleFrame(frame)
	waitFor(t, func() bool { return s.reply(1) != nil }, "the connect answered")
	if e := s.reply(1).Error; e == nil || e.Code != protocol.CodeLimitExceeded {
		t.Fatalf("connect: %+v, want error 106", s.reply(1))
	}
	if n := len(h.Channels("")); n != 0 {
		t.Fatalf("%d channels still subscribed", n)
	}
}

// staticTokens accepts any token as user's.
type staticTokens struct{ user string }

func (v staticTokens) VerifyConnect(string) (*auth.ConnectClaims, error) {
	return &auth.ConnectClaims{User: v.user}, nil
}

func (v staticTokens) VerifyChannel(string) (*auth.ChannelClaims, error) {
	return nil, errors.New("no channel tokens")
}
