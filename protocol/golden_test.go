package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden files hold the exact bytes each encoding writes for every
// result type, push and command: a refactoring of the encoders must leave
// them as they are. Regenerate them with `go test -run TestGolden -update`
// only for a change of the wire format, which docs/PROTOCOL.md must show.
//
// Maps here have one entry: Protobuf writes map entries in no fixed order.

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenCase is one message; encode writes it in enc.
type goldenCase struct {
	name   string
	encode func(enc Encoding) ([]byte, error)
}

func reply(id uint32, typ string, result Result) func(Encoding) ([]byte, error) {
	return func(enc Encoding) ([]byte, error) { return enc.AppendReply(nil, id, typ, result) }
}

func push(f func(enc Encoding) []byte) func(Encoding) ([]byte, error) {
	return func(enc Encoding) ([]byte, error) { return f(enc), nil }
}

func command(cmd *Command) func(Encoding) ([]byte, error) {
	return func(enc Encoding) ([]byte, error) { return enc.AppendCommand(nil, cmd) }
}

func goldenCases() []goldenCase {
	info := &ClientInfo{User: "alice", Client: "c1"}
	pubs := []*Publication{
		{Offset: 7, Data: []byte(`{"text":"hi \"there\""}`), Info: info, Time: 1764000000000},
		{Offset: 8, Data: []byte{0, 0xff, 'x'}, Time: 1764000000001},
		{Offset: 9, Data: []byte("{\n  \"pretty\": [1, 2]\n}"), Time: 9},
		{Offset: 10, Data: []byte(`[[[1]]]`), MaxDepth: 2, Time: 10},
		{Offset: 11, Data: []byte(`"known"`), JSON: true},
	}
	return []goldenCase{
		{"reply connect", reply(1, TypeConnect, &ConnectResult{
			Client: "c1", User: "alice", Ping: 25, Expires: 1764000300,
			Subs:  map[string]*SubscribeResult{"chat:x": {Offset: 9, Epoch: "e1", Recovered: boolPtr(true), Publications: pubs[:2], More: true}},
			Inbox: &InboxResult{Offset: 3, Epoch: "i1", Recovered: true, Publications: pubs[2:], More: true},
		})},
		{"reply connect bare", reply(2, TypeConnect, &ConnectResult{Client: "c2"})},
		{"reply connect refused sub", reply(3, TypeConnect, &ConnectResult{Client: "c3", User: "u",
			Subs:  map[string]*SubscribeResult{"news": {Error: ErrPermissionDenied}},
			Inbox: &InboxResult{Epoch: "i", Publications: []*Publication{}},
		})},
		{"reply subscribe", reply(4, TypeSubscribe, &SubscribeResult{Offset: 11, Epoch: "e1", Recovered: boolPtr(false), Publications: pubs, More: true})},
		{"reply subscribe bare", reply(5, TypeSubscribe, &SubscribeResult{Epoch: "e"})},
		{"reply subscribe error", reply(6, TypeSubscribe, &SubscribeResult{Error: NewError(CodeBadRequest, "tab\there")})},
		{"reply unsubscribe", reply(7, TypeUnsubscribe, &EmptyResult{})},
		{"reply publish", reply(8, TypePublish, &PublishResult{Offset: 300, Epoch: "a1b2"})},
		{"reply publish zero", reply(9, TypePublish, &PublishResult{})},
		{"reply send", reply(MaxCommandID, TypeSend, &PublishResult{Offset: 1, Epoch: "inbox"})},
		{"reply presence", reply(10, TypePresence, &PresenceResult{Clients: map[string]PresenceEntry{"c1": {User: "alice", Info: json.RawMessage(`{"name":"Alice"}`)}}})},
		{"reply presence no info", reply(11, TypePresence, &PresenceResult{Clients: map[string]PresenceEntry{"c2": {}}})},
		{"reply presence empty", reply(12, TypePresence, &PresenceResult{Clients: map[string]PresenceEntry{}})},
		{"reply presence_stats", reply(13, TypePresenceStats, &PresenceStatsResult{Clients: 3, Users: 2})},
		{"reply history", reply(14, TypeHistory, &HistoryResult{Publications: pubs, Offset: 11, Epoch: "e1"})},
		{"reply history empty", reply(15, TypeHistory, &HistoryResult{Publications: []*Publication{}, Epoch: "e"})},
		{"reply history nil", reply(16, TypeHistory, &HistoryResult{Epoch: "e"})},
		{"reply refresh", reply(17, TypeRefresh, &RefreshResult{Expires: 1764000900})},
		{"reply refresh forever", reply(18, TypeRefresh, &RefreshResult{})},
		{"reply error", push(func(enc Encoding) []byte { return enc.AppendErrorReply(nil, 19, ErrTooManyRequests) })},
		{"reply error custom", push(func(enc Encoding) []byte {
			return enc.AppendErrorReply(nil, 20, NewError(CodeBadRequest, "é \"quoted\"\n"))
		})},

		{"push message", push(func(enc Encoding) []byte { return enc.AppendMessagePush(nil, "chat:x", pubs[0]) })},
		{"push message binary", push(func(enc Encoding) []byte { return enc.AppendMessagePush(nil, "chat:x", pubs[1]) })},
		{"push message pretty", push(func(enc Encoding) []byte { return enc.AppendMessagePush(nil, "chat:x", pubs[2]) })},
		{"push message deep", push(func(enc Encoding) []byte { return enc.AppendMessagePush(nil, "chat:x", pubs[3]) })},
		{"push message bare", push(func(enc Encoding) []byte { return enc.AppendMessagePush(nil, "plain", &Publication{}) })},
		{"push direct", push(func(enc Encoding) []byte { return enc.AppendDirectPush(nil, *info, pubs[0]) })},
		{"push direct from server", push(func(enc Encoding) []byte { return enc.AppendDirectPush(nil, ClientInfo{}, pubs[4]) })},
		{"push join", push(func(enc Encoding) []byte { return enc.AppendPresencePush(nil, PushJoin, "chat:x", *info) })},
		{"push leave anonymous", push(func(enc Encoding) []byte {
			return enc.AppendPresencePush(nil, PushLeave, "chat:x", ClientInfo{Client: "c"})
		})},
		{"push subscribed", func(enc Encoding) ([]byte, error) {
			return enc.AppendSubscribedPush(nil, "chat:x", &SubscribeResult{Offset: 9, Epoch: "e1", Recovered: boolPtr(true), Publications: pubs[:2]})
		}},
		{"push subscribed bare", func(enc Encoding) ([]byte, error) {
			return enc.AppendSubscribedPush(nil, "chat:y", &SubscribeResult{Epoch: "e"})
		}},
		{"push unsubscribed", push(func(enc Encoding) []byte {
			return enc.AppendUnsubscribedPush(nil, "chat:x", 2000, "unsubscribed by server")
		})},
		{"push refresh_needed", push(func(enc Encoding) []byte { return enc.AppendRefreshNeededPush(nil, 1764000300) })},
		{"push disconnect", push(func(enc Encoding) []byte { return enc.AppendDisconnectPush(nil, DisconnectSlowConsumer) })},
		{"push ping", push(func(enc Encoding) []byte { return enc.PingPush() })},

		{"command connect", command(&Command{ID: 1, Type: TypeConnect, Token: "t", Name: "n", Version: "v",
			Subs: map[string]SubscribeSince{"a": {Since: &StreamPosition{Offset: 3, Epoch: "e"}}}, InboxSince: &StreamPosition{Offset: 1, Epoch: "i"}})},
		{"command subscribe", command(&Command{ID: 2, Type: TypeSubscribe, Channel: "c", Token: "ct", Since: &StreamPosition{Epoch: "e"}})},
		{"command publish", command(&Command{ID: 3, Type: TypePublish, Channel: "c", Data: json.RawMessage(`{"x":[1,2]}`)})},
		{"command history", command(&Command{ID: 4, Type: TypeHistory, Channel: "c", Limit: intPtr(0), Reverse: true})},
		{"command send", command(&Command{ID: 5, Type: TypeSend, User: "u", Data: json.RawMessage(`"hi"`)})},
		{"command pong", command(&Command{Type: TypePong})},
	}
}

// TestGolden checks every encoder's output byte for byte against
// testdata/golden: JSON as text, Protobuf as hex, one message a line.
func TestGolden(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			var b strings.Builder
			for _, c := range goldenCases() {
				msg, err := c.encode(enc)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				line := string(msg)
				if enc.Binary() {
					line = hex.EncodeToString(msg)
				}
				if strings.ContainsAny(line, "\n\t") {
					t.Fatalf("%s: %q does not fit on a line", c.name, line)
				}
				fmt.Fprintf(&b, "%s\t%s\n", c.name, line)
			}
			path := filepath.Join("testdata", "golden", enc.String()+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := []byte(b.String())
			if bytes.Equal(got, want) {
				return
			}
			gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
			for i := range max(len(gotLines), len(wantLines)) {
				g, w := line(gotLines, i), line(wantLines, i)
				if g != w {
					t.Errorf("line %d:\n got  %s\n want %s", i+1, g, w)
				}
			}
		})
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(none)"
}
