package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/protocol/pb"
)

var encodings = []Encoding{JSON, Protobuf}

func boolPtr(b bool) *bool { return &b }
func intPtr(n int) *int    { return &n }

// decodeOne decodes a frame that must hold exactly one server message.
func decodeOne(t *testing.T, enc Encoding, frame []byte) *ServerMessage {
	t.Helper()
	var out []*ServerMessage
	if err := enc.DecodeServerFrame(frame, func(m *ServerMessage) error { out = append(out, m); return nil }); err != nil {
		t.Fatalf("%v: decode %q: %v", enc, frame, err)
	}
	if len(out) != 1 {
		t.Fatalf("%v: %d messages in %q", enc, len(out), frame)
	}
	return out[0]
}

// pushes is one of every push, as each encoding writes it.
func pushes(enc Encoding) map[string][]byte {
	pub := &Publication{Offset: 7, Data: []byte(`{"text":"hi"}`), Info: &ClientInfo{User: "alice", Client: "c1"}, Time: 1764000000000}
	sub, _ := enc.AppendSubscribedPush(nil, "chat:x", &SubscribeResult{
		Offset: 3, Epoch: "e1", Recovered: boolPtr(true),
		Publications: []*Publication{{Offset: 3, Data: []byte(`3`), Time: 5}},
	})
	return map[string][]byte{
		"message":             enc.AppendMessagePush(nil, "chat:x", pub),
		"message bare":        enc.AppendMessagePush(nil, "plain", &Publication{Data: []byte(`"x"`)}),
		"direct":              enc.AppendDirectPush(nil, ClientInfo{User: "bob", Client: "c2"}, pub),
		"direct from server":  enc.AppendDirectPush(nil, ClientInfo{}, &Publication{Offset: 1, Data: []byte(`1`), Time: 9}),
		"join":                enc.AppendPresencePush(nil, PushJoin, "chat:x", ClientInfo{User: "u", Client: "c"}),
		"leave anonymous":     enc.AppendPresencePush(nil, PushLeave, "chat:x", ClientInfo{Client: "c"}),
		"subscribed":          sub,
		"unsubscribed":        enc.AppendUnsubscribedPush(nil, "chat:x", 2000, "unsubscribed by server"),
		"refresh_needed":      enc.AppendRefreshNeededPush(nil, 1764000300),
		"disconnect":          enc.AppendDisconnectPush(nil, DisconnectSlowConsumer),
		"ping":                enc.PingPush(),
		"error reply":         enc.AppendErrorReply(nil, 9, ErrTooManyRequests),
		"message binary data": enc.AppendMessagePush(nil, "c", &Publication{Offset: 2, Data: []byte{0, 0xff, 'x'}, Time: 1}),
	}
}

// TestEncodingsAgree is the codec's contract: whatever the server writes, a
// client decodes to the same values in either encoding.
func TestEncodingsAgree(t *testing.T) {
	jsonPushes, protoPushes := pushes(JSON), pushes(Protobuf)
	for name, j := range jsonPushes {
		jm := decodeOne(t, JSON, j)
		pm := decodeOne(t, Protobuf, protoPushes[name])
		// JSON carries info and from as objects that are always present
		// on these pushes; Protobuf omits an empty nested message only
		// where the encoder does, and these encoders never do.
		if !reflect.DeepEqual(jm, pm) {
			t.Errorf("%s:\n json  %+v\n proto %+v", name, jm, pm)
		}
	}
}

// TestRepliesAgree checks every result type through both encodings.
func TestRepliesAgree(t *testing.T) {
	pubs := []*Publication{{Offset: 1, Data: []byte(`{"a":1}`), Info: &ClientInfo{User: "u", Client: "c"}, Time: 3}, {Offset: 2, Data: []byte(`2`), Time: 4}}
	cases := []struct {
		typ    string
		result Result
		out    func() Result
	}{
		{TypeConnect, &ConnectResult{Client: "c", User: "u", Ping: 25, Expires: 99,
			Subs:  map[string]*SubscribeResult{"a": {Offset: 2, Epoch: "e", Recovered: boolPtr(true), Publications: pubs}, "b": {Error: ErrPermissionDenied}},
			Inbox: &InboxResult{Offset: 2, Epoch: "i", Recovered: true, Publications: pubs},
		}, func() Result { return new(ConnectResult) }},
		{TypeSubscribe, &SubscribeResult{Offset: 5, Epoch: "e", Recovered: boolPtr(false), Publications: pubs}, func() Result { return new(SubscribeResult) }},
		{TypeSubscribe, &SubscribeResult{Offset: 0, Epoch: "e"}, func() Result { return new(SubscribeResult) }},
		{TypeUnsubscribe, &EmptyResult{}, func() Result { return new(EmptyResult) }},
		{TypePublish, &PublishResult{Offset: 4, Epoch: "e"}, func() Result { return new(PublishResult) }},
		{TypeSend, &PublishResult{Offset: 1, Epoch: "i"}, func() Result { return new(PublishResult) }},
		{TypePresence, &PresenceResult{Clients: map[string]PresenceEntry{"c1": {User: "u", Info: json.RawMessage(`{"n":"U"}`)}, "c2": {User: ""}}}, func() Result { return new(PresenceResult) }},
		{TypePresenceStats, &PresenceStatsResult{Clients: 3, Users: 2}, func() Result { return new(PresenceStatsResult) }},
		{TypeHistory, &HistoryResult{Publications: pubs, Offset: 2, Epoch: "e"}, func() Result { return new(HistoryResult) }},
		{TypeHistory, &HistoryResult{Publications: []*Publication{}, Offset: 0, Epoch: "e"}, func() Result { return new(HistoryResult) }},
		{TypeRefresh, &RefreshResult{Expires: 77}, func() Result { return new(RefreshResult) }},
	}
	for _, tc := range cases {
		var results [NumEncodings]Result
		var relayed [NumEncodings]any
		for _, enc := range encodings {
			frame, err := enc.AppendReply(nil, 42, tc.typ, tc.result)
			if err != nil {
				t.Fatalf("%v %s: %v", enc, tc.typ, err)
			}
			m := decodeOne(t, enc, frame)
			if m.ID != 42 || m.Error != nil || !m.HasResult() {
				t.Fatalf("%v %s: %+v", enc, tc.typ, m)
			}
			out := tc.out()
			if err := m.DecodeResult(out); err != nil {
				t.Fatalf("%v %s: %v", enc, tc.typ, err)
			}
			results[enc] = out
			raw, err := m.ResultJSON()
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("%v %s: result JSON %s: %v", enc, tc.typ, raw, err)
			}
			relayed[enc] = v
		}
		if !reflect.DeepEqual(results[JSON], results[Protobuf]) {
			t.Errorf("%s:\n json  %#v\n proto %#v", tc.typ, results[JSON], results[Protobuf])
		}
		if !reflect.DeepEqual(relayed[JSON], relayed[Protobuf]) {
			t.Errorf("%s as JSON:\n json  %v\n proto %v", tc.typ, relayed[JSON], relayed[Protobuf])
		}
	}
}

func TestProtoReplyNamesTheCommand(t *testing.T) {
	for typ, want := range map[string]string{TypePublish: "publish", TypeSend: "send"} {
		frame, _ := Protobuf.AppendReply(nil, 1, typ, &PublishResult{Offset: 1})
		msg, _, _ := nextProto(frame)
		var m pb.ServerMessage
		if err := proto.Unmarshal(msg, &m); err != nil {
			t.Fatal(err)
		}
		if got := m.ProtoReflect().WhichOneof(m.ProtoReflect().Descriptor().Oneofs().ByName("result")).Name(); string(got) != want {
			t.Errorf("%s reply carries %s", typ, got)
		}
	}
}

// TestProtoPushesMatchGenerated checks the hand-written encoders (pushes and
// the publish reply) against the generated code: same fields, same values.
func TestProtoPushesMatchGenerated(t *testing.T) {
	info := &ClientInfo{User: "alice", Client: "c1"}
	cases := []struct {
		got  []byte
		want *pb.ServerMessage
	}{
		{protobufCodec{}.appendMessagePush(nil, "chat:x", &Publication{Offset: 300, Data: []byte("hello"), Info: info, Time: 1764000000000}),
			&pb.ServerMessage{Type: "message", Channel: "chat:x", Offset: 300, Data: []byte("hello"), Info: &pb.ClientInfo{User: "alice", Client: "c1"}, Ts: 1764000000000}},
		{protobufCodec{}.appendMessagePush(nil, "c", &Publication{}),
			&pb.ServerMessage{Type: "message", Channel: "c"}},
		{protobufCodec{}.appendMessagePush(nil, "c", &Publication{Info: &ClientInfo{}, Data: bytes.Repeat([]byte("x"), 300)}),
			&pb.ServerMessage{Type: "message", Channel: "c", Info: &pb.ClientInfo{}, Data: bytes.Repeat([]byte("x"), 300)}},
		{protobufCodec{}.appendDirectPush(nil, ClientInfo{}, &Publication{Offset: 1, Data: []byte("d"), Info: info, Time: -1}),
			&pb.ServerMessage{Type: "direct", Offset: 1, Data: []byte("d"), From: &pb.ClientInfo{}, Ts: -1}},
		{protobufCodec{}.appendPresencePush(nil, PushJoin, "c", ClientInfo{User: "u", Client: "k"}),
			&pb.ServerMessage{Type: "join", Channel: "c", Info: &pb.ClientInfo{User: "u", Client: "k"}}},
		{(&PublishResult{Offset: 300, Epoch: "e"}).appendProtoReply(nil, 1<<31, TypeSend),
			&pb.ServerMessage{Id: 1 << 31, Result: &pb.ServerMessage_Send{Send: &pb.PublishResult{Offset: 300, Epoch: "e"}}}},
		{(&PublishResult{}).appendProtoReply(nil, 1, TypePublish),
			&pb.ServerMessage{Id: 1, Result: &pb.ServerMessage_Publish{Publish: &pb.PublishResult{}}}},
	}
	for i, tc := range cases {
		msg, rest, err := nextProto(tc.got)
		if err != nil || len(rest) != 0 {
			t.Fatalf("case %d: length prefix: %v, %d bytes left", i, err, len(rest))
		}
		var m pb.ServerMessage
		if err := proto.Unmarshal(msg, &m); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !proto.Equal(&m, tc.want) {
			t.Errorf("case %d:\n got  %v\n want %v", i, &m, tc.want)
		}
		// Same size as the generated encoder, so no field is written twice.
		if proto.Size(tc.want) != len(msg) {
			t.Errorf("case %d: %d bytes, generated code writes %d", i, len(msg), proto.Size(tc.want))
		}
	}
}

func TestCommandsAgree(t *testing.T) {
	cmds := []*Command{
		{ID: 1, Type: TypeConnect, Token: "t", Name: "n", Version: "v",
			Subs: map[string]SubscribeSince{"a": {Since: &StreamPosition{Offset: 3, Epoch: "e"}}, "b": {}}, InboxSince: &StreamPosition{Offset: 1, Epoch: "i"}},
		{ID: 2, Type: TypeSubscribe, Channel: "c", Token: "ct", Since: &StreamPosition{Offset: 0, Epoch: "e"}},
		{ID: 3, Type: TypePublish, Channel: "c", Data: json.RawMessage(`{"x":[1,2]}`)},
		{ID: 4, Type: TypeHistory, Channel: "c", Limit: intPtr(0), Reverse: true},
		{ID: 5, Type: TypeHistory, Channel: "c", Limit: intPtr(-1)},
		{ID: 6, Type: TypeSend, User: "u", Data: json.RawMessage(`"hi"`)},
		{Type: TypePong},
	}
	for _, enc := range encodings {
		var frame []byte
		for i, c := range cmds {
			if i > 0 {
				frame = append(frame, enc.Separator()...)
			}
			var err error
			if frame, err = enc.AppendCommand(frame, c); err != nil {
				t.Fatal(err)
			}
		}
		var got []*Command
		if err := enc.DecodeFrame(frame, func(c *Command) error { got = append(got, c); return nil }); err != nil {
			t.Fatalf("%v: %v", enc, err)
		}
		if !reflect.DeepEqual(got, cmds) {
			for i := range cmds {
				if !reflect.DeepEqual(got[i], cmds[i]) {
					t.Errorf("%v command %d:\n got  %+v\n want %+v", enc, i, got[i], cmds[i])
				}
			}
		}
	}
}

func TestProtoCommandsCarryAnyBytes(t *testing.T) {
	frame, _ := Protobuf.AppendCommand(nil, &Command{ID: 1, Type: TypePublish, Channel: "c", Data: []byte{0, 0xff}})
	err := Protobuf.DecodeFrame(frame, func(c *Command) error {
		if !bytes.Equal(c.Data, []byte{0, 0xff}) {
			t.Errorf("data %q", c.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := JSON.AppendCommand(nil, &Command{Type: TypePublish, Data: []byte{0, 0xff}}); err == nil {
		t.Error("JSON encoded non-JSON data")
	}
}

func TestDecodeProtoFrameMalformed(t *testing.T) {
	valid, _ := Protobuf.AppendCommand(nil, &Command{Type: "publish", Channel: "c"})
	cases := map[string][]byte{
		"empty frame":       {},
		"bad varint":        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"truncated":         valid[:len(valid)-1],
		"length too long":   append([]byte{100}, valid[1:]...),
		"empty message":     {0},
		"no type":           lengthPrefixed(protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "c")),
		"bad wire type":     lengthPrefixed([]byte{0x17}),
		"invalid UTF-8":     lengthPrefixed(protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "\xff")),
		"trailing garbage":  append(append([]byte{}, valid...), 5),
		"JSON in a binary":  []byte(`{"type":"publish"}`),
		"valid then broken": append(append([]byte{}, valid...), 0xff),
	}
	for name, frame := range cases {
		err := Protobuf.DecodeFrame(frame, func(*Command) error { return nil })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func lengthPrefixed(msg []byte) []byte {
	return append(protowire.AppendVarint(nil, uint64(len(msg))), msg...)
}

func FuzzDecodeProtoFrame(f *testing.F) {
	for _, c := range []*Command{
		{ID: 1, Type: TypeConnect, Token: "x", Subs: map[string]SubscribeSince{"a": {Since: &StreamPosition{Offset: 1, Epoch: "e"}}}},
		{ID: 2, Type: TypePublish, Channel: "c", Data: []byte{1, 2, 3}},
		{ID: 3, Type: TypeHistory, Channel: "c", Limit: intPtr(5), Reverse: true},
	} {
		b, _ := Protobuf.AppendCommand(nil, c)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{2, 0x12, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		_ = Protobuf.DecodeFrame(frame, func(c *Command) error {
			if c.Type == "" {
				t.Fatal("command without type accepted")
			}
			// Whatever decodes must encode back and decode to the same.
			b, err := Protobuf.AppendCommand(nil, c)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			return Protobuf.DecodeFrame(b, func(c2 *Command) error {
				if !reflect.DeepEqual(normalize(c), normalize(c2)) {
					t.Fatalf("round trip:\n %+v\n %+v", c, c2)
				}
				return nil
			})
		})
	})
}

// normalize maps the values Protobuf cannot tell apart (nil and empty) to
// one form.
func normalize(c *Command) *Command {
	n := *c
	if len(n.Data) == 0 {
		n.Data = nil
	}
	return &n
}

// TestEncodingFacts checks what each encoding's implementation says of
// itself, which the server's handshake and writer go by.
func TestEncodingFacts(t *testing.T) {
	for _, tc := range []struct {
		enc       Encoding
		name, sub string
		binary    bool
		separator string
	}{
		{JSON, "json", "herald.v1.json", false, "\n"},
		{Protobuf, "protobuf", "herald.v1.proto", true, ""},
	} {
		if tc.enc.String() != tc.name || tc.enc.Subprotocol() != tc.sub || tc.enc.Binary() != tc.binary || string(tc.enc.Separator()) != tc.separator {
			t.Errorf("%d: %q %q %v %q", tc.enc, tc.enc.String(), tc.enc.Subprotocol(), tc.enc.Binary(), tc.enc.Separator())
		}
		if m := decodeOne(t, tc.enc, tc.enc.PingPush()); m.Type != PushPing {
			t.Errorf("%v ping decodes as %+v", tc.enc, m)
		}
	}
	if s := Encoding(NumEncodings).String(); s != "Encoding(2)" {
		t.Errorf("unknown encoding prints as %q", s)
	}
}
