package server_test

import (
	"encoding/base64"
	"testing"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protowire"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// Tests of what is particular to the Protobuf encoding. Everything the two
// encodings share runs over both in the rest of the suite.

func dialWith(t *testing.T, s *ht.Server, subprotocols ...string) *ht.Client {
	return ht.Dial(t, s.WSURL, &websocket.DialOptions{Subprotocols: subprotocols})
}

func TestNegotiateEncoding(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	cases := []struct {
		offer []string
		want  string
	}{
		{[]string{"herald.v1.proto"}, "herald.v1.proto"},
		{[]string{"mqtt", "herald.v1.proto", "herald.v1.json"}, "herald.v1.proto"},
		{[]string{"herald.v1.json", "herald.v1.proto"}, "herald.v1.json"},
		{[]string{"herald.v2.proto"}, ""},
	}
	for _, tc := range cases {
		c := dialWith(t, s, tc.offer...)
		if got := c.Conn.Subprotocol(); got != tc.want {
			t.Errorf("offer %v: got %q, want %q", tc.offer, got, tc.want)
		}
		if r := c.Call(map[string]any{"type": "connect"}); r.ErrorCode() != 101 {
			t.Errorf("offer %v: anonymous connect answered %v, want error 101 in the negotiated encoding", tc.offer, r)
		}
	}
}

func protoMessage(fields []byte) []byte {
	return append(protowire.AppendVarint(nil, uint64(len(fields))), fields...)
}

func protoString(num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
}

func TestMalformedProtobuf(t *testing.T) {
	s := ht.Start(t, ht.Options{Encoding: protocol.Protobuf})
	connect, _ := protocol.Protobuf.AppendCommand(nil, &protocol.Command{ID: 1, Type: "connect", Token: ht.Token(t, "u", nil)})
	frames := map[string][]byte{
		"garbage":          {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"truncated":        connect[:len(connect)-3],
		"length past end":  append([]byte{0x7f}, connect[1:]...),
		"missing type":     protoMessage(protoString(3, "chat:x")),
		"invalid UTF-8":    protoMessage(protoString(2, "connect\xff")),
		"wrong wire type":  protoMessage([]byte{0x10, 0x01}), // type as a varint
		"JSON as binary":   []byte(`{"id":1,"type":"connect"}`),
		"valid then junk":  append(append([]byte{}, connect...), 0x05, 0x01),
		"empty frame":      {},
		"zero-length only": {0},
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			c := s.Dial(t)
			c.Send(frame)
			c.ExpectClose(4500)
		})
	}
	// The server is still fine.
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	if r := c.Call(map[string]any{"type": "presence_stats", "channel": "chat:x"}); r.ErrorCode() != 0 {
		t.Fatalf("after malformed frames: %v", r)
	}
}

func TestTextFrameOnProtobuf(t *testing.T) {
	s := ht.Start(t, ht.Options{Encoding: protocol.Protobuf})
	c, _ := s.Connect(t, ht.Token(t, "u", nil))
	ctx := t.Context()
	if err := c.Conn.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`)); err != nil {
		t.Fatal(err)
	}
	c.ExpectClose(1003)
}

// TestProtobufBatching: several commands in one binary frame are all run, in
// order, and replies and pushes arrive in order. (That the writer coalesces
// Protobuf messages into one frame is TestWriterCoalesces in package hub.)
func TestProtobufBatching(t *testing.T) {
	s := ht.Start(t, ht.Options{Encoding: protocol.Protobuf})
	c := s.Dial(t)
	var frame []byte
	for _, cmd := range []*protocol.Command{
		{ID: 1, Type: "connect", Token: ht.Token(t, "u", nil)},
		{ID: 2, Type: "subscribe", Channel: "chat:b"},
		{ID: 3, Type: "publish", Channel: "chat:b", Data: []byte(`"one"`)},
	} {
		frame, _ = protocol.Protobuf.AppendCommand(frame, cmd)
	}
	c.Send(frame)
	for id := 1; id <= 3; id++ {
		if r := c.Wait(func(m ht.Msg) bool { return m.ID() == id }, "reply %d", id); r.ErrorCode() != 0 {
			t.Fatalf("reply %d: %v", id, r)
		}
	}
	c.Messages("chat:b", 1)
	const n = 200
	for i := 0; i < n; i++ {
		s.MustAPI("publish", map[string]any{"channel": "chat:b", "data": i})
	}
	msgs := c.Messages("chat:b", n)
	for i, m := range msgs {
		if ht.Num(m["data"]) != i || ht.Num(m["offset"]) != i+2 {
			t.Fatalf("message %d: %v", i, m)
		}
	}
}

// TestCrossDelivery: bytes that are not JSON reach JSON subscribers as b64,
// and JSON data reaches Protobuf subscribers as its bytes.
func TestCrossDelivery(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	j, _ := ht.Connect(t, s.WSURL, ht.Token(t, "j", nil))
	p := dialWith(t, s, protocol.SubprotocolProtobuf)
	if r := p.Call(map[string]any{"type": "connect", "token": ht.Token(t, "p", nil)}); r.ErrorCode() != 0 {
		t.Fatal(r)
	}
	for _, c := range []*ht.Client{j, p} {
		c.Call(map[string]any{"type": "subscribe", "channel": "chat:x"})
	}
	// The Protobuf client publishes raw bytes: build the command by hand,
	// since maps can only say JSON.
	pub, _ := protocol.Protobuf.AppendCommand(nil, &protocol.Command{ID: 50, Type: "publish", Channel: "chat:x", Data: []byte{0, 0xfe, 'z'}})
	p.Send(pub)
	if r := p.Wait(func(m ht.Msg) bool { return m.ID() == 50 }, "publish reply"); ht.Num(r.Result()["offset"]) != 1 {
		t.Fatalf("publish: %v", r)
	}
	want := base64.StdEncoding.EncodeToString([]byte{0, 0xfe, 'z'})
	if m := j.Messages("chat:x", 1)[0]; m["b64"] != want || m["data"] != nil {
		t.Fatalf("JSON subscriber got %v, want b64 %s", m, want)
	}
	// heraldtest shows Protobuf messages in JSON's shape, so the same b64.
	if m := p.Messages("chat:x", 1)[0]; m["b64"] != want {
		t.Fatalf("Protobuf subscriber got %v", m)
	}
	j.Call(map[string]any{"type": "publish", "channel": "chat:x", "data": map[string]any{"k": "v"}})
	if m := p.Messages("chat:x", 1)[0]; ht.JSON(m["data"]) != `{"k":"v"}` {
		t.Fatalf("Protobuf subscriber got %v", m)
	}
	// History through Protobuf keeps the bytes too.
	h := p.Call(map[string]any{"type": "history", "channel": "chat:x"})
	if pubs := h.Result()["publications"].([]any); len(pubs) != 2 || pubs[0].(map[string]any)["b64"] != want {
		t.Fatalf("history %v", h)
	}
}
