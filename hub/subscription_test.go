package hub

import (
	"testing"

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
	c := &Client{hub: &Hub{obs: NopObserver{}}}
	c.queue = writeQueue{maxItems: 100, maxBytes: 1 << 20, flush: func() {}}
	s := &subscription{client: c}
	for _, o := range []uint64{3, 4, 5, 6} {
		s.deliver(o, "e", []byte{byte('0' + o)}, 0)
	}
	s.deliver(0, "", []byte("j"), 0) // a join, no offset
	if c.queue.depth() != 0 {
		t.Fatal("pushes queued before activate")
	}
	c.queueActivating([]byte("R"), []activation{{s, protocol.StreamPosition{Offset: 4, Epoch: "e"}, false}})
	s.deliver(7, "e", []byte("7"), 0)
	if got := queuedText(c); got != "R56j7" {
		t.Fatalf("queued %q, want R56j7", got)
	}
}

// TestHeldGapIsAnnounced: held pushes that do not continue the reply's
// position are not dropped silently: the connection closes with 4000.
func TestHeldGapIsAnnounced(t *testing.T) {
	c := &Client{hub: &Hub{obs: NopObserver{}}, enc: protocol.JSON}
	c.queue = writeQueue{maxItems: 100, maxBytes: 1 << 20, flush: func() {}}
	s := &subscription{client: c}
	s.deliver(5, "e", []byte("5"), 0)
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
		c := &Client{hub: &Hub{obs: NopObserver{}}, enc: protocol.JSON}
		c.queue = writeQueue{maxItems: 100, maxBytes: 1 << 20, flush: func() {}}
		a, b := &subscription{client: c}, &subscription{client: c}
		a.deliver(2, "e", []byte("a"), 0)
		b.deliver(1, "e", []byte("b"), 0)
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

// queued concatenates everything in c's queue.
func queuedText(c *Client) string {
	var got string
	for {
		batch, _, _, stop := c.queue.take()
		if stop {
			return got
		}
		for _, m := range batch {
			got += string(m)
		}
	}
}
