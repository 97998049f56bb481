package hub

import (
	"errors"
	"reflect"
	"testing"
)

// TestControlWire: control messages are written as the version before
// typed messages wrote them, byte for byte, and what that version writes
// reads back as the typed message, so nodes of both versions interoperate
// during a rolling upgrade. The wire strings come from that version.
func TestControlWire(t *testing.T) {
	info := &NodeInfo{Name: "n1", Version: "v1", Uptime: 5, Clients: 2, Users: 1, Channels: 3, Subs: 4, Published: 6, Delivered: 7}
	const infoJSON = `{"name":"n1","version":"v1","uptime":5,"clients":2,"users":1,"channels":3,"subs":4,"published":6,"delivered":7}`
	for _, tc := range []struct {
		msg  controlMessage
		wire string
	}{
		{subscribeUser{User: "u", Channel: "chat:a"}, `{"op":"subscribe","user":"u","channel":"chat:a"}`},
		{unsubscribeUser{User: "u", Channel: "chat:a"}, `{"op":"unsubscribe","user":"u","channel":"chat:a"}`},
		{disconnectUser{User: "u", Code: 4501, Reason: "bye"}, `{"op":"disconnect","user":"u","code":4501,"reason":"bye"}`},
		{historyRemoved{Channel: "chat:a"}, `{"op":"history_removed","channel":"chat:a"}`},
		{nodeReport{From: "id1", Node: info}, `{"op":"node","from":"id1","node":` + infoJSON + `}`},
		{nodeLeft{From: "id1"}, `{"op":"node_left","from":"id1"}`},
		{channelsSurvey{From: "id1", ID: "s1", Pattern: "chat:*"}, `{"op":"channels","from":"id1","id":"s1","pattern":"chat:*"}`},
		{channelsReply{From: "id2", To: "id1", ID: "s1", Channels: map[string]int{"chat:a": 2, "chat:b": 1}},
			`{"op":"channels_reply","from":"id2","to":"id1","id":"s1","channels":{"chat:a":2,"chat:b":1}}`},
		{subscribeUser{}, `{"op":"subscribe"}`},
	} {
		got, err := encodeControl(tc.msg)
		if err != nil || string(got) != tc.wire {
			t.Errorf("encode %#v: %s, %v; want %s", tc.msg, got, err, tc.wire)
		}
		back, err := decodeControl([]byte(tc.wire))
		if err != nil || !reflect.DeepEqual(back, tc.msg) {
			t.Errorf("decode %s: %#v, %v; want %#v", tc.wire, back, err, tc.msg)
		}
	}

	// The version before sent its node's info with its goodbye.
	back, err := decodeControl([]byte(`{"op":"node_left","from":"id1","node":` + infoJSON + `}`))
	if err != nil || back != (nodeLeft{From: "id1"}) {
		t.Errorf("an older node's goodbye: %#v, %v", back, err)
	}
	// A reminder to report never travels.
	if _, err := decodeControl([]byte(`{"op":"report"}`)); !errors.Is(err, errUnknownControl) {
		t.Errorf("report from the wire: %v", err)
	}
	for _, bad := range []string{`{"op":"compact"}`, `{}`} {
		if _, err := decodeControl([]byte(bad)); !errors.Is(err, errUnknownControl) {
			t.Errorf("%s: %v, want errUnknownControl", bad, err)
		}
	}
	for _, bad := range []string{``, `[]`, `{"op":"subscribe","user":7}`, `{"op":"disconnect","code":"x"}`} {
		if _, err := decodeControl([]byte(bad)); err == nil || errors.Is(err, errUnknownControl) {
			t.Errorf("%s: %v, want a decode error", bad, err)
		}
	}
}
