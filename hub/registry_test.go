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
