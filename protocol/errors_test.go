package protocol

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeErrorsQuoteNothing: a malformed frame's error names the kind of
// problem and where it is, never the frame's bytes, so that logging it
// cannot leak what a client sent.
func TestDecodeErrorsQuoteNothing(t *testing.T) {
	const marker = "SECRETMARKER"
	validProto, _ := Protobuf.AppendCommand(nil, &Command{ID: 1, Type: TypePublish, Channel: "c", Data: []byte(marker)})
	cases := []struct {
		name  string
		enc   Encoding
		frame string
	}{
		{"JSON syntax", JSON, `{"type":"publish","data":` + marker + `}`},
		{"JSON syntax in a string", JSON, `{"type":"publish","channel":"` + marker + "\x01" + `"}`},
		{"JSON wrong type", JSON, `{"type":"publish","id":"` + marker + `"}`},
		{"JSON number of the wrong type", JSON, `{"type":"publish","id":-12345` + marker[:0] + `}`},
		{"JSON map key", JSON, `{"type":"connect","subs":{"` + marker + `":{"since":5}}}`},
		{"JSON trailing", JSON, `{"type":"publish"} ` + marker},
		{"JSON second line", JSON, `{"type":"pong"}` + "\n" + `{"type":` + marker + `}`},
		{"Protobuf truncated", Protobuf, string(validProto[:len(validProto)-2])},
		{"Protobuf bad UTF-8", Protobuf, string(lengthPrefixed(append([]byte{0x12, byte(len(marker) + 1)}, marker+"\xff"...)))},
		{"Protobuf as JSON", Protobuf, `{"type":"` + marker + `"}`},
		// The length prefix is the peer's bytes too: 12345 as a varint.
		{"Protobuf length", Protobuf, "\xb9\x60" + marker},
	}
	for _, tc := range cases {
		err := tc.enc.DecodeFrame([]byte(tc.frame), func(*Command) error { return nil })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, marker) || strings.Contains(msg, "12345") || strings.Contains(msg, "publish") {
			t.Errorf("%s: error quotes the frame: %s", tc.name, msg)
		}
	}
	// Clients decode the server's frames, which carry other clients'
	// data; their errors quote nothing either.
	for name, frame := range map[string]string{
		"JSON":      `{"type":"message","data":` + marker + `}`,
		"JSON type": `{"type":"message","offset":"` + marker + `"}`,
	} {
		err := JSON.DecodeServerFrame([]byte(frame), func(*ServerMessage) error { return nil })
		if !errors.Is(err, ErrMalformed) || strings.Contains(err.Error(), marker) {
			t.Errorf("server frame, %s: %v", name, err)
		}
	}
	err := Protobuf.DecodeServerFrame(lengthPrefixed([]byte{0x0a, 3, 'a', 'b', 0xff}), func(*ServerMessage) error { return nil })
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("protobuf server frame: %v", err)
	}
}
