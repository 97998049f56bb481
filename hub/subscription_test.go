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
	for i, st := range steps {
		d, g := s.advance(st.offset, st.epoch)
		if d != st.deliver || g != st.gap {
			t.Fatalf("step %d (%d@%s): deliver %v gap %v", i, st.offset, st.epoch, d, g)
		}
	}
}

// TestActivateReleasesHeldInOrderWithoutRepeats: pushes that arrived while
// the subscribe reply was being built are queued after it, minus the ones
// the reply already carried.
func TestActivateReleasesHeldInOrderWithoutRepeats(t *testing.T) {
	c := &Client{}
	c.queue = writeQueue{maxItems: 100, maxBytes: 1 << 20, flush: func() {}}
	s := &subscription{client: c}
	for _, o := range []uint64{3, 4, 5, 6} {
		s.deliver(o, "e", []byte{byte('0' + o)})
	}
	s.deliver(0, "", []byte("j")) // a join, no offset
	if c.queue.depth() != 0 {
		t.Fatal("pushes queued before activate")
	}
	s.activate(protocol.StreamPosition{Offset: 4, Epoch: "e"})
	s.deliver(7, "e", []byte("7"))
	batch, _, _ := c.queue.take()
	var got string
	for _, m := range batch {
		got += string(m)
	}
	if got != "56j7" {
		t.Fatalf("queued %q, want 56j7", got)
	}
}
