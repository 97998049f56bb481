package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func nested(n int) []byte { return []byte(strings.Repeat("[", n) + strings.Repeat("]", n)) }

func TestInlineJSON(t *testing.T) {
	cases := []struct {
		data  string
		limit int
		want  bool
	}{
		{`{"a":[1,{"b":[]}]}`, 4, true},
		{`{"a":[1,{"b":[]}]}`, 3, false},
		{`1`, 0, true},
		{`[]`, 0, false},
		{string(nested(64)), 64, true},
		{string(nested(65)), 64, false},
		// Brackets in strings, escaped quotes and backslashes do not count.
		{`["[[[[", "\"[[[", "\\", "{{{{"]`, 1, true},
		{`["\\\"[[[", [[]]]`, 2, false},
		{`[1,2,[3],[4],[5]]`, 2, true},
		// Valid depth, invalid JSON.
		{`{"a":}`, 64, false},
		{"\x00\xff", 64, false},
		{``, 64, false},
		{`"unterminated`, 64, false},
		// Unbalanced: deep enough to refuse before validating.
		{strings.Repeat("[", 100000), 64, false},
	}
	for _, tc := range cases {
		if got := InlineJSON([]byte(tc.data), tc.limit); got != tc.want {
			t.Errorf("InlineJSON(%.40q, %d) = %v, want %v", tc.data, tc.limit, got, tc.want)
		}
	}
}

// TestInlineJSONStopsAtTheLimit: refusing deep data costs a scan to the
// first bracket past the limit, not a parse of the whole.
func TestInlineJSONStopsAtTheLimit(t *testing.T) {
	deep := nested(1 << 20)
	allocs := testing.AllocsPerRun(10, func() {
		if InlineJSON(deep, DefaultMaxDataDepth) {
			t.Fatal("inlined")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

// deepPub is a publication whose data is valid JSON past the default depth,
// as a Protobuf client or the API's b64data could publish it.
func deepPub() *Publication {
	return &Publication{Offset: 1, Data: nested(10000), Time: 1}
}

// checkB64 checks that a JSON message carries the deep data as b64 wherever
// a publication appears, and parses with encoding/json.
func checkB64(t *testing.T, what string, msg []byte) {
	t.Helper()
	if !json.Valid(msg) {
		t.Fatalf("%s: not valid JSON: %.100s", what, msg)
	}
	if bytes.Contains(msg, []byte(`"data"`)) {
		t.Errorf("%s: data inlined: %.100s", what, msg)
	}
	if !bytes.Contains(msg, []byte(`"b64":"`+base64.StdEncoding.EncodeToString(nested(10000))+`"`)) {
		t.Errorf("%s: no b64: %.100s", what, msg)
	}
}

// TestDeepDataGoesOutAsB64: every place the JSON encoding writes a
// publication, data nested past MaxDepth goes out as b64, so that the
// message stays within every parser's nesting bound.
func TestDeepDataGoesOutAsB64(t *testing.T) {
	pub := deepPub()
	checkB64(t, "message push", JSON.AppendMessagePush(nil, "c", pub))
	checkB64(t, "direct push", JSON.AppendDirectPush(nil, ClientInfo{User: "u"}, pub))
	sub, err := JSON.AppendSubscribedPush(nil, "c", &SubscribeResult{Publications: []*Publication{pub}})
	if err != nil {
		t.Fatal(err)
	}
	checkB64(t, "subscribed push", sub)
	for typ, res := range map[string]Result{
		TypeHistory:   &HistoryResult{Publications: []*Publication{pub}},
		TypeSubscribe: &SubscribeResult{Publications: []*Publication{pub}},
		TypeConnect: &ConnectResult{
			Subs:  map[string]*SubscribeResult{"c": {Publications: []*Publication{pub}}},
			Inbox: &InboxResult{Publications: []*Publication{pub}},
		},
	} {
		msg, err := JSON.AppendReply(nil, 1, typ, res)
		if err != nil {
			t.Fatalf("%s reply: %v", typ, err)
		}
		checkB64(t, typ+" reply", msg)
	}
	// The server API marshals results with encoding/json.
	api, err := json.Marshal(map[string]any{"result": &HistoryResult{Publications: []*Publication{pub}}})
	if err != nil {
		t.Fatal(err)
	}
	checkB64(t, "API result", api)
	// And the receiving client gets the bytes back.
	m := decodeOne(t, JSON, JSON.AppendMessagePush(nil, "c", pub))
	if !bytes.Equal(m.Data, pub.Data) {
		t.Error("decoded data differs from the published bytes")
	}
}

// TestMaxDepthIsTheLimit: the publication's MaxDepth, the server's
// configured limit, decides; JSON marks data checked against it.
func TestMaxDepthIsTheLimit(t *testing.T) {
	data := nested(70)
	inline := func(p *Publication) bool {
		return bytes.Contains(JSON.AppendMessagePush(nil, "c", p), []byte(`"data":[`))
	}
	if inline(&Publication{Data: data}) {
		t.Error("depth 70 inlined under the default limit")
	}
	if !inline(&Publication{Data: data, MaxDepth: 70}) {
		t.Error("depth 70 not inlined under a limit of 70")
	}
	if inline(&Publication{Data: nested(71), MaxDepth: 70}) {
		t.Error("depth 71 inlined under a limit of 70")
	}
	if !inline(&Publication{Data: data, JSON: true}) {
		t.Error("data marked JSON was checked again")
	}
}

// FuzzInlineJSON: the fast check agrees with encoding/json's validity and
// an exact depth count, for limits around the input's depth.
func FuzzInlineJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,{"b":[]}]}`, `["\\\"[[", [[]]]`, `"` + strings.Repeat(`\\\"[`, 20) + `"`,
		`[` + `"` + strings.Repeat("x", 40) + `\"[[[[[[" , [[[[]]]]]`, `  [1]`, "\x08\x01", `[[[`,
		`["` + strings.Repeat(`\\`, 17) + `", [[]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid, depth := json.Valid(data), JSONDepth(data)
		for _, limit := range []int{0, 1, 2, 3, depth - 1, depth, depth + 1} {
			if limit < 0 {
				continue
			}
			if got, want := InlineJSON(data, limit), valid && depth <= limit; got != want {
				t.Fatalf("InlineJSON(%q, %d) = %v, want %v", data, limit, got, want)
			}
		}
	})
}
