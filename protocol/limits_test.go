package protocol

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestDecodeFrameLimit: a frame of up to limit commands decodes; one with
// more is refused before any command reaches fn, in both encodings. Blank
// lines of a JSON frame are not commands.
func TestDecodeFrameLimit(t *testing.T) {
	for _, enc := range []Encoding{JSON, Protobuf} {
		t.Run(enc.String(), func(t *testing.T) {
			frame := func(n int) []byte {
				var b []byte
				for i := 0; i < n; i++ {
					if i > 0 {
						b = append(b, enc.Separator()...)
						if enc == JSON {
							b = append(b, "\n  \n"...)
						}
					}
					b, _ = enc.AppendCommand(b, &Command{ID: uint32(i + 1), Type: TypePublish, Channel: "c", Data: []byte("1")})
				}
				return b
			}
			seen := 0
			count := func(*Command) error { seen++; return nil }
			if err := enc.DecodeFrameLimit(frame(3), 3, count); err != nil || seen != 3 {
				t.Fatalf("at the limit: %v, %d commands", err, seen)
			}
			seen = 0
			err := enc.DecodeFrameLimit(frame(4), 3, count)
			if !errors.Is(err, ErrTooManyCommands) || seen != 0 {
				t.Fatalf("over the limit: %v, %d commands handled", err, seen)
			}
		})
	}
}

// TestDecodeFrameLimitMalformed: a malformed frame under the limit is
// still reported as malformed, not counted past.
func TestDecodeFrameLimitMalformed(t *testing.T) {
	if err := Protobuf.DecodeFrameLimit([]byte{0xff, 0xff}, 3, func(*Command) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("protobuf: %v", err)
	}
	if err := JSON.DecodeFrameLimit([]byte("{"), 3, func(*Command) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("json: %v", err)
	}
}

// TestProtoDeclaredLengthsDoNotAllocate: lengths declared in a frame, at
// the top level or inside a message, are checked against the bytes present
// before anything is allocated for them.
func TestProtoDeclaredLengthsDoNotAllocate(t *testing.T) {
	huge := uint64(1) << 40
	field := func(num protowire.Number, declared uint64, body string) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		b = protowire.AppendVarint(b, declared)
		return append(b, body...)
	}
	typ := protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "publish")
	cases := map[string][]byte{
		"message length": append(protowire.AppendVarint(nil, huge), typ...),
		"data length":    lengthPrefixed(append(append([]byte{}, typ...), field(4, huge, "abc")...)),
		"channel length": lengthPrefixed(append(append([]byte{}, typ...), field(3, 1<<30, "abc")...)),
		"subs entry":     lengthPrefixed(append(append([]byte{}, typ...), field(8, huge, "")...)),
		"nested since":   lengthPrefixed(append(append([]byte{}, typ...), field(10, 3, string(field(2, huge, "e")))...)),
	}
	for name, frame := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := Protobuf.DecodeFrame(frame, func(*Command) error { return nil })
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: decoding a %d-byte frame allocated %d bytes", name, len(frame), grew)
		}
	}
}

// TestJSONIDsOutOfRange: ids outside 1..2^32-1 (or 0, meaning none) and
// limits no int holds make the frame malformed.
func TestJSONIDsOutOfRange(t *testing.T) {
	for _, line := range []string{
		`{"id":-1,"type":"publish"}`,
		`{"id":4294967296,"type":"publish"}`,
		`{"id":1.5,"type":"publish"}`,
		`{"id":1e3,"type":"publish"}`,
		`{"id":"1","type":"publish"}`,
		`{"id":1,"type":"history","limit":1e30}`,
		`{"id":1,"type":"history","limit":` + strings.Repeat("9", 40) + `}`,
	} {
		err := JSON.DecodeFrame([]byte(line), func(*Command) error { return nil })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", line, err)
		}
	}
	var got *Command
	if err := JSON.DecodeFrame([]byte(`{"id":4294967295,"type":"publish"}`), func(c *Command) error { got = c; return nil }); err != nil || got.ID != MaxCommandID {
		t.Fatalf("largest id: %v %+v", err, got)
	}
}

// TestJSONDataOpaque: numbers in data that no Go number holds pass through
// byte for byte.
func TestJSONDataOpaque(t *testing.T) {
	data := `{"big":123456789012345678901234567890,"tiny":1e-400,"huge":-9.99e999}`
	var got *Command
	if err := JSON.DecodeFrame([]byte(`{"type":"publish","channel":"c","data":`+data+`}`), func(c *Command) error { got = c; return nil }); err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != data {
		t.Fatalf("data %s, want %s", got.Data, data)
	}
}
