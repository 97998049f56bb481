package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	fastjson "github.com/segmentio/encoding/json"
)

func TestDecodeFrame(t *testing.T) {
	frame := []byte(`{"id":1,"type":"connect","token":"t","subs":{"a":{"since":{"offset":3,"epoch":"e"}}}}` + "\n" +
		`{"type":"publish","channel":"c","data":{"x":[1,2]}}` + "\n\n")
	var cmds []*Command
	if err := JSON.DecodeFrame(frame, func(c *Command) error { cmds = append(cmds, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 2 {
		t.Fatalf("%d commands", len(cmds))
	}
	if cmds[0].ID != 1 || cmds[0].Subs["a"].Since.Offset != 3 || cmds[0].Subs["a"].Since.Epoch != "e" {
		t.Fatalf("connect %+v", cmds[0])
	}
	if cmds[1].ID != 0 || string(cmds[1].Data) != `{"x":[1,2]}` {
		t.Fatalf("publish %+v", cmds[1])
	}
}

func TestDecodeFrameMalformed(t *testing.T) {
	for _, f := range []string{"", " ", "x", "[]", "null", `{"id":1}`, `{"type":""}`, `{"id":-1,"type":"a"}`,
		`{"id":4294967296,"type":"a"}`, `{"id":"1","type":"a"}`, `{"type":"a"} x`, `{"type":"a","limit":"5"}`} {
		err := JSON.DecodeFrame([]byte(f), func(*Command) error { return nil })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", f, err)
		}
	}
}

func TestDecodeFrameStopsOnHandlerError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := JSON.DecodeFrame([]byte(`{"type":"a"}`+"\n"+`{"type":"b"}`), func(*Command) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d commands", err, n)
	}
}

func TestAppendMessagePush(t *testing.T) {
	pub := &Publication{Offset: 7, Data: []byte(`{"a":"b"}`), Info: &ClientInfo{User: "u\"1", Client: "c"}, Time: 123}
	got := string(JSON.AppendMessagePush(nil, "chat:x", pub))
	want := `{"type":"message","channel":"chat:x","offset":7,"data":{"a":"b"},"info":{"user":"u\"1","client":"c"},"ts":123}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got = string(JSON.AppendMessagePush(nil, "c", &Publication{Data: []byte{0xff, 0}, Time: 1}))
	if got != `{"type":"message","channel":"c","b64":"/wA=","ts":1}` {
		t.Fatalf("binary: %s", got)
	}
}

func TestPushesAreValidJSON(t *testing.T) {
	msgs := [][]byte{
		JSON.AppendDirectPush(nil, ClientInfo{User: "a"}, &Publication{Offset: 1, Data: []byte(`"x"`), Time: 2}),
		JSON.AppendPresencePush(nil, PushJoin, "c", ClientInfo{User: "u", Client: "c"}),
		JSON.AppendDisconnectPush(nil, DisconnectSlowConsumer),
		JSON.AppendErrorReply(nil, 9, ErrTooManyRequests),
		JSON.PingPush(),
	}
	r, err := JSON.AppendReply(nil, 3, TypeSubscribe, &SubscribeResult{Offset: 1, Epoch: "e", Publications: []*Publication{{Offset: 1, Data: []byte("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	p := JSON.AppendRefreshNeededPush(nil, 5)
	for _, m := range append(msgs, r, p) {
		if !json.Valid(m) {
			t.Errorf("invalid JSON: %s", m)
		}
	}
	if string(JSON.AppendErrorReply(nil, 9, ErrTooManyRequests)) != `{"id":9,"error":{"code":110,"message":"too many requests","temporary":true}}` {
		t.Errorf("error reply %s", JSON.AppendErrorReply(nil, 9, ErrTooManyRequests))
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x01\x1f\n\r\t", "ünïcödé ✓", "bad\xffutf8", "<>&"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q round-trips to %q, encoding/json to %q", s, back, wantBack)
		}
	}
}

func TestPublicationRoundTrip(t *testing.T) {
	for _, data := range [][]byte{[]byte(`{"k":1}`), {0, 1, 2, 0xff}} {
		in := &Publication{Offset: 4, Data: data, Info: &ClientInfo{User: "u", Client: "c"}, Time: 99}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out Publication
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if string(out.Data) != string(data) || out.Offset != 4 || out.Info.User != "u" || out.Time != 99 {
			t.Fatalf("round trip %s → %+v", b, out)
		}
	}
}

func TestCloseCodeReconnect(t *testing.T) {
	yes := []CloseCode{1001, 4000, 4001, 4002, 4003, 4004, 4005, 4006, 4100}
	no := []CloseCode{1000, 1002, 1003, 1007, 1009, 4500, 4501, 4502, 4999}
	for _, c := range yes {
		if !c.Reconnect() {
			t.Errorf("%d should reconnect", c)
		}
	}
	for _, c := range no {
		if c.Reconnect() {
			t.Errorf("%d should not reconnect", c)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"type":"connect","token":"x","subs":{"a":{"since":{"offset":1,"epoch":"e"}}},"inbox_since":{"offset":0,"epoch":""}}`,
		`{"id":2,"type":"publish","channel":"c","data":[1,{"a":null}]}` + "\n" + `{"type":"pong"}`,
		`{"id":3,"type":"history","channel":"c","limit":5,"reverse":true}`,
		`{"type":"x","data":"` + strings.Repeat("a", 100) + `"}`,
		"", "\n\n", "{", `{"id":99999999999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_ = JSON.DecodeFrame(frame, func(c *Command) error {
			if c.Type == "" {
				t.Fatal("command without type accepted")
			}
			if len(c.Data) > 0 && !json.Valid(c.Data) {
				t.Fatalf("invalid data accepted: %q", c.Data)
			}
			// Whatever decodes must encode back without error.
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			return nil
		})
	})
}

// TestPushDataOnOneLine: JSON data with line breaks is compacted, because a
// JSON frame holds one message per line; known-JSON data encodes exactly
// as checked data does.
func TestPushDataOnOneLine(t *testing.T) {
	pretty := []byte("{\n  \"text\": \"two\\nlines\",\r\n  \"n\": [1, 2]\n}")
	for _, known := range []bool{false, true} {
		got := JSON.AppendMessagePush(nil, "c", &Publication{Data: pretty, Time: 1, JSON: known})
		want := `{"type":"message","channel":"c","data":{"text":"two\nlines","n":[1,2]},"ts":1}`
		if string(got) != want {
			t.Fatalf("known %v:\ngot  %s\nwant %s", known, got, want)
		}
	}
	compact := []byte(`{"a": [1, 2]}`)
	checked := JSON.AppendMessagePush(nil, "c", &Publication{Data: compact, Time: 1})
	known := JSON.AppendMessagePush(nil, "c", &Publication{Data: compact, Time: 1, JSON: true})
	if string(checked) != string(known) {
		t.Fatalf("known JSON %s, checked %s", known, checked)
	}
}

// FuzzFastJSONMatchesStdlib: the faster decoder used for commands and the
// data check accepts and decodes exactly what encoding/json does, so that
// swapping it in changed no client-visible behaviour.
func FuzzFastJSONMatchesStdlib(f *testing.F) {
	for _, s := range []string{
		`{"id":2,"type":"publish","channel":"c","data":[1,{"a":null}]}`,
		`{"id":1,"type":"connect","token":"x","subs":{"a":{"since":{"offset":1,"epoch":"e"}}}}`,
		`{"ID":1,"TYPE":"publish","Data":1}`, `{"id":1,"id":2,"type":"a"}`,
		`{"id":-1,"type":"a"}`, `{"id":1.5,"type":"a"}`, `{"id":4294967296,"type":"a"}`,
		`{"type":"a","data":"\ud800"}`, `{"type":"a","data":1e999}`, `{"type":"a"} x`,
		`{"type":"a","limit":null}`, `{"type":"a","since":[]}`, `[]`, `null`, ` {"type":"a"} `,
		"{\"type\":\"a\",\"data\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var std, fast Command
		stdErr := json.Unmarshal(line, &std)
		fastErr := fastjson.Unmarshal(line, &fast)
		if (stdErr == nil) != (fastErr == nil) {
			t.Fatalf("%q: encoding/json says %v, the fast decoder %v", line, stdErr, fastErr)
		}
		if stdErr == nil && !reflect.DeepEqual(std, fast) {
			t.Fatalf("%q: decoded differently:\n%+v\n%+v", line, std, fast)
		}
		if json.Valid(line) != fastjson.Valid(line) {
			t.Fatalf("%q: Valid differs (encoding/json %v)", line, json.Valid(line))
		}
	})
}

func TestJSONDepth(t *testing.T) {
	cases := map[string]int{
		`1`: 0, `[]`: 1, `{"a":[1,{"b":[]}]}`: 4, `"[[[["`: 0, `["\"[[", [[]]]`: 3, `"\\"`: 0,
	}
	for in, want := range cases {
		if got := JSONDepth([]byte(in)); got != want {
			t.Errorf("JSONDepth(%s) = %d, want %d", in, got, want)
		}
	}
}

// TestDecodeRefusesDeepNesting: past encoding/json's nesting bound a frame
// is malformed (the decoder in use has no bound of its own), and just
// under it the frame decodes.
func TestDecodeRefusesDeepNesting(t *testing.T) {
	frame := func(depth int) []byte {
		return []byte(`{"type":"publish","channel":"c","data":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
	}
	if err := JSON.DecodeFrame(frame(maxNesting+1), func(*Command) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nesting past the bound: %v, want ErrMalformed", err)
	}
	// Brackets inside strings do not count.
	inString := []byte(`{"type":"publish","channel":"c","data":"` + strings.Repeat("[", 2*maxNesting) + `"}`)
	decoded := 0
	for _, f := range [][]byte{frame(maxNesting - 2), inString} {
		if err := JSON.DecodeFrame(f, func(*Command) error { decoded++; return nil }); err != nil {
			t.Fatalf("%.60s...: %v", f, err)
		}
	}
	if decoded != 2 {
		t.Fatalf("decoded %d frames, want 2", decoded)
	}
}

// TestResultsAppendedInPlace: the results appended without encoding/json
// (the ones that carry publications) read back exactly as encoding/json's
// rendering of the same values does.
func TestResultsAppendedInPlace(t *testing.T) {
	yes, no := true, false
	pubs := []*Publication{
		{Offset: 7, Data: []byte(`{"a":[1,2]}`), JSON: true, Time: 1},
		{Offset: 8, Data: []byte{0xff, 0x00}, Info: &ClientInfo{User: "u\"", Client: "c"}, Time: 2},
		{Offset: 9, Data: []byte("{\n \"pretty\": true\n}"), Time: 3},
		{Offset: 10, Time: 4},
	}
	for i, result := range []Result{
		&HistoryResult{Publications: pubs, Offset: 10, Epoch: "e"},
		&HistoryResult{Publications: []*Publication{}, Offset: 0, Epoch: ""},
		&HistoryResult{Publications: []*Publication{}, Epoch: "e\u2028"},
		&SubscribeResult{Offset: 3, Epoch: "e"},
		&SubscribeResult{Offset: 9, Epoch: "e", Recovered: &yes, Publications: pubs[:2], More: true},
		&SubscribeResult{Offset: 9, Epoch: "e", Recovered: &no},
		&SubscribeResult{Error: &Error{Code: CodeLimitExceeded, Message: "too many channels"}},
	} {
		got, err := JSON.AppendReply(nil, 5, TypeHistory, result)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(result)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("result %d: %s: %v", i, got, err)
		}
		if err := json.Unmarshal([]byte(`{"id":5,"result":`+string(body)+`}`), &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("result %d:\n got %s\nwant {\"id\":5,\"result\":%s}", i, got, body)
		}
		if strings.Contains(string(got), "\n") {
			t.Fatalf("result %d spans lines: %q", i, got)
		}
	}
	// A history without publications is an empty list, never null.
	if got, _ := JSON.AppendReply(nil, 5, TypeHistory, &HistoryResult{Epoch: "e"}); !strings.Contains(string(got), `"publications":[]`) {
		t.Fatalf("empty history: %s", got)
	}
}
