package hub

import (
	"testing"

	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

// TestForEachEncodesOncePerEncoding: a push is encoded once for each
// encoding its subscribers speak, never for one nobody speaks, and every
// subscriber of an encoding gets the very same bytes.
func TestForEachEncodesOncePerEncoding(t *testing.T) {
	var r channelRegistry
	r.init()
	encs := []protocol.Encoding{protocol.JSON, protocol.Protobuf, protocol.JSON, protocol.JSON, protocol.Protobuf}
	for _, enc := range encs {
		r.add(&subscription{client: &Client{enc: enc}, channel: "c"})
	}
	r.add(&subscription{client: &Client{enc: protocol.Protobuf}, channel: "other"})
	r.add(&subscription{client: &Client{enc: protocol.JSON}, channel: "json-only"})

	var encoded []protocol.Encoding
	encode := func(enc protocol.Encoding) []byte {
		encoded = append(encoded, enc)
		return []byte(enc.String())
	}
	got := map[protocol.Encoding]map[*byte]int{}
	r.forEach("c", encode, func(s *subscription, sh *outbound.Shared) {
		msg := sh.Bytes
		if string(msg) != s.client.enc.String() {
			t.Errorf("a %v subscriber got %q", s.client.enc, msg)
		}
		if got[s.client.enc] == nil {
			got[s.client.enc] = map[*byte]int{}
		}
		got[s.client.enc][&msg[0]]++
	})
	if len(encoded) != 2 {
		t.Fatalf("encoded %v for two encodings", encoded)
	}
	if len(got[protocol.JSON]) != 1 || got[protocol.JSON][firstKey(got[protocol.JSON])] != 3 ||
		len(got[protocol.Protobuf]) != 1 || got[protocol.Protobuf][firstKey(got[protocol.Protobuf])] != 2 {
		t.Fatalf("subscribers did not share one buffer per encoding: %v", got)
	}

	encoded = nil
	r.forEach("json-only", encode, func(*subscription, *outbound.Shared) {})
	if len(encoded) != 1 || encoded[0] != protocol.JSON {
		t.Fatalf("json-only channel encoded %v", encoded)
	}
	encoded = nil
	r.forEach("nobody", encode, func(*subscription, *outbound.Shared) {})
	if len(encoded) != 0 {
		t.Fatalf("channel without subscribers encoded %v", encoded)
	}
}

func firstKey(m map[*byte]int) *byte {
	for k := range m {
		return k
	}
	return nil
}

// TestChannelSubsGrowAndShrink: a channel's subscriptions, held in place
// up to two and in a map from the third, are found, replaced, removed and
// visited the same way whichever holds them; the registry drops the
// channel with its last subscription.
func TestChannelSubsGrowAndShrink(t *testing.T) {
	var r channelRegistry
	r.init()
	clients := make([]*Client, 4)
	subs := make([]*subscription, 4)
	for i := range clients {
		clients[i] = &Client{}
		subs[i] = &subscription{client: clients[i], channel: "c"}
	}
	visit := func() map[*subscription]bool {
		seen := map[*subscription]bool{}
		r.forEach("c", func(protocol.Encoding) []byte { return []byte{1} }, func(s *subscription, _ *outbound.Shared) {
			if seen[s] {
				t.Fatalf("visited %p twice", s)
			}
			seen[s] = true
		})
		return seen
	}
	for n := 1; n <= 4; n++ { // in place, then a map
		r.add(subs[n-1])
		if seen := visit(); len(seen) != n || r.subs.Load() != int64(n) {
			t.Fatalf("%d added: visited %d, counted %d", n, len(seen), r.subs.Load())
		}
	}
	again := &subscription{client: clients[0], channel: "c"} // replaces its client's
	r.add(again)
	if seen := visit(); len(seen) != 4 || !seen[again] || seen[subs[0]] || r.subs.Load() != 4 {
		t.Fatalf("a client's second subscription did not replace its first: %v", seen)
	}
	for _, s := range []*subscription{subs[2], again, subs[3], subs[1]} {
		r.remove(s)
	}
	if r.n.Load() != 0 || r.subs.Load() != 0 || r.subscriptionsOf("c") != nil {
		t.Fatalf("channels %d, subscriptions %d after removing all", r.n.Load(), r.subs.Load())
	}

	// In place: remove the first of two, then the second is still found.
	r.add(subs[0])
	r.add(subs[1])
	if r.remove(subs[0]) {
		t.Fatal("the channel reported empty with one subscription left")
	}
	if got := r.subscriptionsOf("c"); len(got) != 1 || got[0] != subs[1] {
		t.Fatalf("left %v, want the second", got)
	}
	if !r.remove(subs[1]) {
		t.Fatal("the last removal did not empty the channel")
	}
}

// TestSubSet: a client's subscriptions, held in place while there is one
// and in a map from the second, are found, removed and taken alike.
func TestSubSet(t *testing.T) {
	var set subSet
	a, b := &subscription{channel: "a"}, &subscription{channel: "b"}
	set.put(a)
	if set.get("a") != a || set.get("b") != nil || set.len() != 1 || set.many != nil {
		t.Fatal("one subscription not held in place")
	}
	set.put(b)
	if set.get("a") != a || set.get("b") != b || set.len() != 2 {
		t.Fatal("second subscription lost")
	}
	if set.remove("a") != a || set.remove("a") != nil || set.len() != 1 {
		t.Fatal("remove")
	}
	if got := set.take(); len(got) != 1 || got[0] != b || set.len() != 0 {
		t.Fatalf("take %v", got)
	}
	set.put(a)
	if set.remove("b") != nil || set.remove("a") != a || set.len() != 0 {
		t.Fatal("remove in place")
	}
}
