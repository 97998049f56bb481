package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// dialWith dials s offering subprotocols, whatever encoding s's other
// clients speak.
func dialWith(t *testing.T, s *ht.Server, subprotocols ...string) *ht.Client {
	return ht.Dial(t, s.WSURL, &websocket.DialOptions{Subprotocols: subprotocols})
}

// wantB64 checks that a publication, as a JSON client received it, carries
// want base64-encoded under "b64" and no "data".
func wantB64(t *testing.T, what string, pub map[string]any, want string) {
	t.Helper()
	if _, ok := pub["data"]; ok {
		t.Errorf("%s: data inlined: %.80v", what, pub)
	}
	b64, _ := pub["b64"].(string)
	got, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || string(got) != want {
		t.Errorf("%s: b64 decodes to %.40q (%v), want the published bytes", what, got, err)
	}
}

// firstPub returns the first publication of a reply's or push's list.
func firstPub(t *testing.T, what string, v any) map[string]any {
	t.Helper()
	pubs, _ := v.([]any)
	if len(pubs) == 0 {
		t.Fatalf("%s: no publications", what)
	}
	p, _ := pubs[0].(map[string]any)
	return p
}

// TestDeepDataFromProtobuf is the regression test for Protobuf data that is
// valid JSON nested far deeper than max_data_depth: JSON clients, the
// server API and the Go SDK must all get it, as b64, and keep working.
// Before the fix the JSON clients' pushes could not be parsed, history and
// subscribe-with-since failed with 100, the API answered 200 with an empty
// body, and the SDK dropped its connection at every attempt.
func TestDeepDataFromProtobuf(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	const ch = "chat:deep"
	deep := ht.NestedJSON(10000)

	jsonSub, _ := s.Connect(t, ht.Token(t, "reader", nil))
	if r := jsonSub.Call(map[string]any{"type": "subscribe", "channel": ch}); r.ErrorCode() != 0 {
		t.Fatalf("subscribe: %v", r)
	}
	var (
		mu        sync.Mutex
		got       []client.Message
		dropped   []client.StateChange // after the first connect
		connected bool
		received  = make(chan struct{}, 4)
	)
	sdk, err := client.Dial(context.Background(), s.WSURL, client.Options{
		Token: ht.Token(t, "sdk", nil),
		OnState: func(sc client.StateChange) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case sc.State == client.StateConnected:
				connected = true
			case connected:
				dropped = append(dropped, sc)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()
	if _, err := sdk.Subscribe(context.Background(), ch, client.SubscribeOptions{OnMessage: func(m client.Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		received <- struct{}{}
	}}); err != nil {
		t.Fatal(err)
	}

	publisher := dialWith(t, s, protocol.SubprotocolProtobuf)
	if r := publisher.Call(map[string]any{"type": "connect", "token": ht.Token(t, "writer", nil)}); r.ErrorCode() != 0 {
		t.Fatalf("connect: %v", r)
	}
	// Built by hand: the test client's commands pass through encoding/json,
	// which refuses this depth.
	frame, _ := protocol.Protobuf.AppendCommand(nil, &protocol.Command{ID: 100, Type: protocol.TypePublish, Channel: ch, Data: []byte(deep)})
	publisher.Send(frame)
	if r := publisher.Wait(func(m ht.Msg) bool { return m.ID() == 100 }, "publish reply"); r.ErrorCode() != 0 {
		t.Fatalf("publish: %v", r)
	}

	// Live, to a JSON client.
	wantB64(t, "message push", jsonSub.Messages(ch, 1)[0], deep)

	// History, to a JSON client.
	h := jsonSub.Call(map[string]any{"type": "history", "channel": ch})
	if h.ErrorCode() != 0 {
		t.Fatalf("history: %v", h)
	}
	wantB64(t, "history", firstPub(t, "history", h.Result()["publications"]), deep)

	// Subscribe with since, on a new JSON connection: the reply recovers
	// the publication and the subscription is live afterwards.
	late, _ := s.Connect(t, ht.Token(t, "late", nil))
	sr := late.Call(map[string]any{"type": "subscribe", "channel": ch, "since": map[string]any{"offset": 0, "epoch": h.Result()["epoch"]}})
	if sr.ErrorCode() != 0 {
		t.Fatalf("subscribe with since: %v", sr)
	}
	wantB64(t, "subscribe with since", firstPub(t, "subscribe", sr.Result()["publications"]), deep)

	// The server API's history.
	status, raw := s.APIRaw("history", ht.APIKey, map[string]any{"channel": ch})
	var api struct {
		Result struct {
			Publications []map[string]any `json:"publications"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &api); status != 200 || err != nil || len(api.Result.Publications) != 1 {
		t.Fatalf("API history: status %d, %v, body %.200s", status, err, raw)
	}
	wantB64(t, "API history", api.Result.Publications[0], deep)

	// The SDK got the bytes as published.
	select {
	case <-received:
	case <-time.After(5 * time.Second):
		t.Fatal("the SDK subscriber received nothing")
	}

	// Everyone still works: a plain publication reaches all three.
	if r := publisher.Call(map[string]any{"type": "publish", "channel": ch, "data": map[string]any{"n": 1}}); r.ErrorCode() != 0 {
		t.Fatalf("second publish: %v", r)
	}
	for name, c := range map[string]*ht.Client{"subscriber": jsonSub, "late subscriber": late} {
		if m := c.Messages(ch, 1)[0]; m["offset"] != float64(2) {
			t.Errorf("%s: %v after the deep publication", name, m)
		}
	}
	select {
	case <-received:
	case <-time.After(5 * time.Second):
		t.Fatal("the SDK subscriber received nothing after the deep publication")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || string(got[0].Data) != deep || got[1].Offset != 2 {
		t.Errorf("SDK received %d messages", len(got))
	}
	if len(dropped) != 0 {
		t.Errorf("the SDK subscriber lost its connection: %+v", dropped)
	}
}

// TestDeepDataDirectAndRecovery: the same for direct messages, their
// inbox recovery, a connect's subs recovery, and the server API's data and
// b64data.
func TestDeepDataDirectAndRecovery(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	deep := ht.NestedJSON(10000)

	rcpt, res := s.Connect(t, ht.Token(t, "rcpt", nil))
	inbox, _ := res["inbox"].(map[string]any)
	sender := dialWith(t, s, protocol.SubprotocolProtobuf)
	if r := sender.Call(map[string]any{"type": "connect", "token": ht.Token(t, "sender", nil)}); r.ErrorCode() != 0 {
		t.Fatalf("connect: %v", r)
	}
	frame, _ := protocol.Protobuf.AppendCommand(nil, &protocol.Command{ID: 100, Type: protocol.TypeSend, User: "rcpt", Data: []byte(deep)})
	sender.Send(frame)
	if r := sender.Wait(func(m ht.Msg) bool { return m.ID() == 100 }, "send reply"); r.ErrorCode() != 0 {
		t.Fatalf("send: %v", r)
	}
	wantB64(t, "direct push", rcpt.Push("direct"), deep)

	// The server API: b64data holding deep JSON, and data nested past
	// the limit (the API's JSON decoder allows it).
	over := ht.NestedJSON(65)
	s.MustAPI("publish", map[string]any{"channel": "chat:api", "b64data": base64.StdEncoding.EncodeToString([]byte(deep))})
	s.MustAPI("publish", map[string]any{"channel": "chat:api", "data": json.RawMessage(over)})
	s.MustAPI("publish", map[string]any{"channel": "chat:api", "data": json.RawMessage(ht.NestedJSON(64))})

	// A new connection recovers the inbox and the channel in its connect.
	epoch := s.MustAPI("history", map[string]any{"channel": "chat:api", "limit": 0})["epoch"]
	again := s.Dial(t)
	r := again.Call(map[string]any{
		"type": "connect", "token": ht.Token(t, "rcpt", nil),
		"inbox_since": map[string]any{"offset": 0, "epoch": inbox["epoch"]},
		"subs":        map[string]any{"chat:api": map[string]any{"since": map[string]any{"offset": 0, "epoch": epoch}}},
	})
	if r.ErrorCode() != 0 {
		t.Fatalf("connect: %v", r)
	}
	gotInbox, _ := r.Result()["inbox"].(map[string]any)
	wantB64(t, "inbox recovery", firstPub(t, "inbox", gotInbox["publications"]), deep)
	subs, _ := r.Result()["subs"].(map[string]any)
	sub, _ := subs["chat:api"].(map[string]any)
	pubs, _ := sub["publications"].([]any)
	if sub["recovered"] != true || len(pubs) != 3 {
		t.Fatalf("connect's subs recovery: %.300v", sub)
	}
	wantB64(t, "API b64data", pubs[0].(map[string]any), deep)
	wantB64(t, "API data past the limit", pubs[1].(map[string]any), over)
	if d, _ := json.Marshal(pubs[2].(map[string]any)["data"]); string(d) != ht.NestedJSON(64) {
		t.Errorf("API data at the limit: %.100v, want it inlined", pubs[2])
	}
}

// TestDeepPresenceInfo: an info claim nested past the limit is left out of
// presence replies, which would otherwise fail for JSON clients and the
// server API; shallower info is shown.
func TestDeepPresenceInfo(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	var deep any = "x"
	for range 65 {
		deep = []any{deep}
	}
	for user, info := range map[string]any{"deep": deep, "plain": map[string]any{"name": "P"}} {
		c, _ := s.Connect(t, ht.Token(t, user, map[string]any{"info": info}))
		if r := c.Call(map[string]any{"type": "subscribe", "channel": "chat:p"}); r.ErrorCode() != 0 {
			t.Fatalf("subscribe: %v", r)
		}
	}
	check := func(what string, clients map[string]any) {
		t.Helper()
		if len(clients) != 2 {
			t.Fatalf("%s: %v", what, clients)
		}
		for _, e := range clients {
			e := e.(map[string]any)
			_, hasInfo := e["info"]
			if want := e["user"] == "plain"; hasInfo != want {
				t.Errorf("%s: entry %v, want info only for plain", what, e)
			}
		}
	}
	for _, enc := range ht.Encodings {
		c := dialWith(t, s, enc.Subprotocol())
		if r := c.Call(map[string]any{"type": "connect", "token": ht.Token(t, "reader", nil)}); r.ErrorCode() != 0 {
			t.Fatalf("connect: %v", r)
		}
		r := c.Call(map[string]any{"type": "presence", "channel": "chat:p"})
		if r.ErrorCode() != 0 {
			t.Fatalf("%v presence: %v", enc, r)
		}
		clients, _ := r.Result()["clients"].(map[string]any)
		check(enc.String()+" presence", clients)
	}
	status, body := s.API("presence", map[string]any{"channel": "chat:p"})
	res, _ := body["result"].(map[string]any)
	clients, _ := res["clients"].(map[string]any)
	if status != 200 {
		t.Fatalf("API presence: %d %v", status, body)
	}
	check("API presence", clients)
}

// TestClusterDeepData: a publication that crossed Redis or NATS carries no
// mark of what it holds, so each node checks it against its own limit:
// deep data still reaches JSON clients as b64, live and from history, and
// data within a configured limit above the default stays inline.
func TestClusterDeepData(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		prefix := "herald-test-" + randomID()
		nodes := make([]*ht.Server, 2)
		for i := range nodes {
			nodes[i] = ht.Start(t, ht.Options{Broker: e.connect(t, prefix), Hub: hub.Config{MaxDataDepth: 100}})
		}
		const ch = "chat:deep"
		sub, _ := nodes[1].Connect(t, ht.Token(t, "reader", nil))
		if r := sub.Call(map[string]any{"type": "subscribe", "channel": ch}); r.ErrorCode() != 0 {
			t.Fatalf("subscribe: %v", r)
		}
		publisher := dialWith(t, nodes[0], protocol.SubprotocolProtobuf)
		if r := publisher.Call(map[string]any{"type": "connect", "token": ht.Token(t, "writer", nil)}); r.ErrorCode() != 0 {
			t.Fatalf("connect: %v", r)
		}
		deep, within := ht.NestedJSON(10000), ht.NestedJSON(80)
		for i, data := range []string{deep, within} {
			frame, _ := protocol.Protobuf.AppendCommand(nil, &protocol.Command{ID: uint32(100 + i), Type: protocol.TypePublish, Channel: ch, Data: []byte(data)})
			publisher.Send(frame)
			if r := publisher.Wait(func(m ht.Msg) bool { return m.ID() == 100+i }, "publish reply"); r.ErrorCode() != 0 {
				t.Fatalf("publish: %v", r)
			}
		}
		inline := func(what string, pub map[string]any) {
			t.Helper()
			if d, _ := json.Marshal(pub["data"]); string(d) != within {
				t.Errorf("%s: %.100v, want the data inline", what, pub)
			}
		}
		live := sub.Messages(ch, 2)
		wantB64(t, "live", live[0], deep)
		inline("live", live[1])
		h := sub.Call(map[string]any{"type": "history", "channel": ch})
		pubs, _ := h.Result()["publications"].([]any)
		if len(pubs) != 2 {
			t.Fatalf("history: %.300v", h)
		}
		wantB64(t, "history", pubs[0].(map[string]any), deep)
		inline("history", pubs[1].(map[string]any))
	})
}
