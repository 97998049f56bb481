package stream

import (
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/protocol"
)

// FuzzConnect feeds the decoders of what a stream request carries before
// the hub sees it: the Last-Event-ID cursor and the connect command. They
// must not panic, and a connect they accept must decode as one connect.
func FuzzConnect(f *testing.F) {
	f.Add(`{"type":"connect","subs":{"a":{}}}`, "eyJzIjp7ImEiOnsib2Zmc2V0IjoxLCJlcG9jaCI6ImUifX19")
	f.Add(`{"id":3,"type":"connect"}`, "")
	f.Add(`{"type":"subscribe"}`, "!!")
	f.Fuzz(func(t *testing.T, connect, lastID string) {
		cur := parseCursor(lastID)
		for _, enc := range []protocol.Encoding{protocol.JSON, protocol.Protobuf} {
			b, id, err := normalizeConnect([]byte(connect), protocol.JSON, enc, cur)
			if err != nil {
				continue
			}
			n := 0
			if err := enc.DecodeFrame(b, func(c *protocol.Command) error {
				n++
				if c.Type != protocol.TypeConnect || c.ID != id || id == 0 {
					t.Fatalf("normalized %+v, id %d", c, id)
				}
				return nil
			}); err != nil || n != 1 {
				t.Fatalf("normalized connect does not decode: %v (%d)", err, n)
			}
		}
	})
}

// FuzzSSEFollow writes arbitrary messages through the SSE writer: it must
// not panic, and every id it writes must decode as a cursor.
func FuzzSSEFollow(f *testing.F) {
	f.Add([]byte(`{"id":1,"result":{"subs":{"a":{"offset":1,"epoch":"e"}},"inbox":{"offset":0,"epoch":"i"}}}`), []byte(`{"type":"message","channel":"a\"b","offset":7,"data":1}`))
	f.Add([]byte(`{"type":"direct","from":{"user":"u","client":"c"},"offset":2}`), []byte(`{"type":"subscribed","channel":"x","offset":1,"epoch":"e"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		s := newSSEWriter(1)
		s.expect(2, "c")
		w := httptest.NewRecorder()
		if err := s.write(w, [][]byte{a, {'\n'}, b}); err != nil {
			t.Fatal(err)
		}
		if s.dirty {
			t.Fatal("dirty after write")
		}
	})
}

func TestLeadingString(t *testing.T) {
	for in, want := range map[string]string{`"a",x`: "a", `"a\"b",x`: `a"b`, `"\u00e9"`: "é"} {
		got, _, ok := leadingString([]byte(in))
		if !ok || got != want {
			t.Errorf("%s: %q %v", in, got, ok)
		}
	}
	if _, _, ok := leadingString([]byte(`"open`)); ok {
		t.Error("unterminated string accepted")
	}
}
