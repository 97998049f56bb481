package hub

import (
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

func TestSubscriptionAdvance(t *testing.T) {
	s := &subscription{epoch: "e", offset: 5}
	steps := []struct {
		offset       uint64
		epoch        string
		deliver, gap bool
	}{
		{0, "", true, false},   // not a stream publication
		{5, "e", false, false}, // repeat of what history returned
		{4, "e", false, false}, // older repeat
		{6, "e", true, false},  // next
		{8, "e", false, true},  // gap: 7 is missing
		{1, "f", false, true},  // new epoch: the stream restarted
	}
	empty := &subscription{epoch: "e"}
	if d, g := empty.next(5, "e"); d || !g {
		t.Fatalf("offset 5 on a stream known empty: deliver %v gap %v, want a gap", d, g)
	}
	for i, st := range steps {
		d, g := s.next(st.offset, st.epoch)
		if d != st.deliver || g != st.gap {
			t.Fatalf("step %d (%d@%s): deliver %v gap %v", i, st.offset, st.epoch, d, g)
		}
		if d {
			s.moveTo(st.offset, st.epoch)
		}
	}
}

// TestActivateReleasesHeldInOrderWithoutRepeats: pushes that arrived while
// the subscribe reply was being built are queued after it, minus the ones
// the reply already carried.
func TestActivateReleasesHeldInOrderWithoutRepeats(t *testing.T) {
	c := newLoggedClient(protocol.JSON)
	s := &subscription{client: c}
	for _, o := range []uint64{3, 4, 5, 6} {
		s.deliver(o, "e", outbound.NewShared([]byte{byte('0' + o)}), 0)
	}
	s.deliver(0, "", outbound.NewShared([]byte("j")), 0) // a join, no offset
	if !c.out.HasRoom(1 << 20) {
		t.Fatal("pushes queued before activate")
	}
	c.queueActivating([]byte("R"), []activation{{s, protocol.StreamPosition{Offset: 4, Epoch: "e"}, false}})
	s.deliver(7, "e", outbound.NewShared([]byte("7")), 0)
	if got := queuedText(c); got != "R56j7" {
		t.Fatalf("queued %q, want R56j7", got)
	}
}

// TestHeldGapIsAnnounced: held pushes that do not continue the reply's
// position are not dropped silently: the connection closes with 4000.
func TestHeldGapIsAnnounced(t *testing.T) {
	c := newLoggedClient(protocol.JSON)
	s := &subscription{client: c}
	s.deliver(5, "e", outbound.NewShared([]byte("5")), 0)
	c.queueActivating([]byte("R"), []activation{{s, protocol.StreamPosition{Offset: 3, Epoch: "e"}, false}})
	got := queuedText(c)
	want := "R" + string(protocol.JSON.AppendDisconnectPush(nil, disconnectContinuityLost))
	if got != want {
		t.Fatalf("queued %q, want the reply and a 4000 disconnect", got)
	}
}

// TestDisconnectNeverSplitsReplyFromHeld races a disconnect (as shutdown
// sends it) against a subscribe reply with held pushes: the client gets the
// reply and every held push before the disconnect, or none of them, never
// the reply alone.
func TestDisconnectNeverSplitsReplyFromHeld(t *testing.T) {
	for i := 0; i < 2000; i++ {
		c := newLoggedClient(protocol.JSON)
		a, b := &subscription{client: c}, &subscription{client: c}
		a.deliver(2, "e", outbound.NewShared([]byte("a")), 0)
		b.deliver(1, "e", outbound.NewShared([]byte("b")), 0)
		done := make(chan struct{})
		go func() {
			c.Disconnect(protocol.DisconnectShutdown)
			close(done)
		}()
		c.queueActivating([]byte("R"), []activation{
			{a, protocol.StreamPosition{Offset: 1, Epoch: "e"}, false},
			{b, protocol.StreamPosition{Offset: 0, Epoch: "e"}, false},
		})
		<-done
		got := queuedText(c)
		if got != "Rab"+disconnectJSON && got != disconnectJSON {
			t.Fatalf("iteration %d: queued %q", i, got)
		}
	}
}

var disconnectJSON = string(protocol.JSON.AppendDisconnectPush(nil, protocol.DisconnectShutdown))

// frameLog is a Transport that keeps what is written, and a Tracker for
// its client's writers.
type frameLog struct {
	sync.WaitGroup
	mu   sync.Mutex
	text strings.Builder
}

func (l *frameLog) Writes() Writes { return Writes{Frame: l.frame} }

func (l *frameLog) frame(parts [][]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range parts {
		l.text.Write(p)
	}
	return nil
}

func (l *frameLog) Close(protocol.CloseCode, string) {}

// newLoggedClient returns a client outside any hub whose messages are
// logged, without separators, and held back (corked) until queuedText.
func newLoggedClient(enc protocol.Encoding) *Client {
	l := &frameLog{}
	c := &Client{hub: &Hub{obs: NopObserver{}, cfg: Config{WriteQueueMessages: 100, WriteQueueBytes: 1 << 20}}, enc: enc, t: l}
	c.out.Init(outbound.Config{Writes: l.Writes(), Events: (*clientEvents)(c), MaxMessages: 100, MaxBytes: 1 << 20, Tracker: l})
	c.out.Cork()
	return c
}

// queuedText lets c's messages go and returns everything written to it.
func queuedText(c *Client) string {
	l := c.t.(*frameLog)
	c.out.Uncork()
	l.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}
