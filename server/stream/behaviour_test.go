package stream_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// rawSSE opens /sse over a raw HTTP/1.1 connection, as curl does, and
// returns the response headers and a reader of the dechunked body.
func rawSSE(t *testing.T, s *ht.Server, connect string, header string) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	u, _ := url.Parse(s.URL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /sse?connect=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n%s\r\n", url.QueryEscape(connect), u.Host, header)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return resp, bufio.NewReader(httputil.NewChunkedReader(br)), conn
}

// readEvent reads one event's bytes, up to and including its blank line.
func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\n" {
			return b.String()
		}
	}
}

// cursorOf is the id the server gives an event after msg moved it.
func cursorOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns an event id's JSON, normalized.
func decodeCursor(t *testing.T, id string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("id %q: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// The exact bytes a curl user sees: headers, the connect reply with its
// cursor, a message that moves it, a ping without an id.
func TestSSEBytes(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{PingInterval: 300 * time.Millisecond}})
	tok := ht.Token(t, "alice", map[string]any{"subs": []string{"news:a"}})
	resp, br, _ := rawSSE(t, s, `{"type":"connect","token":"`+tok+`"}`, "")
	if !resp.Close {
		t.Error("no Connection: close")
	}
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-store",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	ev := readEvent(t, br)
	data, idLine, ok := strings.Cut(strings.TrimPrefix(ev, "data: "), "\nid: ")
	if !strings.HasPrefix(ev, "data: {\"id\":1,\"result\":") || !ok || !strings.HasSuffix(idLine, "\n\n") {
		t.Fatalf("first event %q", ev)
	}
	var reply struct {
		Result struct {
			Session string `json:"session"`
			Subs    map[string]struct {
				Offset uint64 `json:"offset"`
				Epoch  string `json:"epoch"`
			} `json:"subs"`
			Inbox struct {
				Offset uint64 `json:"offset"`
				Epoch  string `json:"epoch"`
			} `json:"inbox"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(data), &reply); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reply.Result.Session, ".") {
		t.Fatalf("session %q", reply.Result.Session)
	}
	epoch := reply.Result.Subs["news:a"].Epoch
	inbox := map[string]any{"offset": reply.Result.Inbox.Offset, "epoch": reply.Result.Inbox.Epoch}
	want := cursorOf(t, map[string]any{"s": map[string]any{"news:a": map[string]any{"offset": 0, "epoch": epoch}}, "i": inbox})
	if got := strings.TrimSuffix(idLine, "\n\n"); decodeCursor(t, got) != decodeCursor(t, want) {
		t.Fatalf("connect id %q, want %q", decodeCursor(t, got), decodeCursor(t, want))
	}

	s.MustAPI("publish", map[string]any{"channel": "news:a", "data": map[string]any{"n": 1}})
	ev = readEvent(t, br)
	for strings.HasPrefix(ev, `data: {"type":"ping"}`) {
		ev = readEvent(t, br)
	}
	wantID := cursorOf(t, map[string]any{"s": map[string]any{"news:a": map[string]any{"offset": 1, "epoch": epoch}}, "i": inbox})
	msg, id, _ := strings.Cut(ev, "}\nid: ")
	if !strings.HasPrefix(msg, `data: {"type":"message","channel":"news:a","offset":1,"data":{"n":1},`) ||
		!strings.HasSuffix(id, "\n\n") || decodeCursor(t, strings.TrimSuffix(id, "\n\n")) != decodeCursor(t, wantID) {
		t.Fatalf("message event %q, want id %s", ev, decodeCursor(t, wantID))
	}
	if ev = readEvent(t, br); ev != "data: {\"type\":\"ping\"}\n\n" {
		t.Fatalf("ping event %q", ev)
	}
}

// Pings arrive on a stream, and a client that never answers them is not
// closed for it.
func TestStreamPingsNeedNoPong(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond}})
	c := openStream(t, s, map[string]any{"type": "connect", "token": ht.Token(t, "alice", nil)}, streamOptions{})
	for range 5 {
		c.Push("ping")
	}
	if d, ok := c.WaitFor(0, func(m ht.Msg) bool { return m.Type() == "disconnect" }); ok {
		t.Fatalf("closed: %v", d)
	}
	// A pong POSTed is accepted.
	if status, body := c.Post(s.URL, []byte(`{"type":"pong"}`), nil); status != http.StatusNoContent {
		t.Fatalf("pong: %d %s", status, body)
	}
	c.Push("ping")
}

// Without a single POST: the token's subs claim and the server API
// subscribe a plain EventSource.
func TestSSEUnidirectional(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	tok := ht.Token(t, "alice", map[string]any{"subs": []string{"chat:a"}})
	c := openStream(t, s, map[string]any{"type": "connect", "token": tok}, streamOptions{})
	s.MustAPI("publish", map[string]any{"channel": "chat:a", "data": map[string]any{"n": 1}})
	c.Messages("chat:a", 1)
	s.MustAPI("subscribe", map[string]any{"user": "alice", "channel": "chat:b"})
	if p := c.Push("subscribed"); p["channel"] != "chat:b" {
		t.Fatalf("subscribed %v", p)
	}
	s.MustAPI("publish", map[string]any{"channel": "chat:b", "data": map[string]any{"n": 2}})
	c.Messages("chat:b", 1)
	s.MustAPI("send", map[string]any{"user": "alice", "data": map[string]any{"n": 3}})
	c.Push("direct")
}

// A client that reconnects with since (an SDK), or an EventSource with
// the Last-Event-ID it saw, gets what it missed and nothing twice.
func TestStreamRecovery(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	tok := ht.Token(t, "alice", nil)
	c := openStream(t, s, map[string]any{"type": "connect", "token": tok, "subs": map[string]any{"chat:a": map[string]any{}}}, streamOptions{})
	s.MustAPI("publish", map[string]any{"channel": "chat:a", "data": map[string]any{"n": 1}})
	m := c.Messages("chat:a", 1)[0]
	last := c.LastEventID()
	if m["_id"] != last || last == "" {
		t.Fatalf("message id %v, last %q", m["_id"], last)
	}
	epoch := c.Result["subs"].(map[string]any)["chat:a"].(map[string]any)["epoch"]
	c.Close()
	for n := 2; n <= 3; n++ {
		s.MustAPI("publish", map[string]any{"channel": "chat:a", "data": map[string]any{"n": n}})
	}
	s.MustAPI("send", map[string]any{"user": "alice", "data": map[string]any{"n": 9}})

	// An SDK: since in the connect command, on HTTP streaming.
	c2 := openStream(t, s, map[string]any{"type": "connect", "token": tok, "subs": map[string]any{
		"chat:a": map[string]any{"since": map[string]any{"offset": 1, "epoch": epoch}}}}, streamOptions{kind: "ndjson"})
	checkRecovered(t, c2.Result, 2, 3)
	c2.Close()

	// An EventSource: the URL it was opened with, which names no channel,
	// and the Last-Event-ID.
	c3 := openStream(t, s, map[string]any{"type": "connect", "token": tok}, streamOptions{header: http.Header{"Last-Event-Id": {last}}})
	checkRecovered(t, c3.Result, 2, 3)
	inbox := c3.Result["inbox"].(map[string]any)
	if pubs := inbox["publications"].([]any); inbox["recovered"] != true || len(pubs) != 1 {
		t.Fatalf("inbox %v", inbox)
	}
}

// checkRecovered checks that chat:a of a connect result recovered exactly
// the offsets from..to.
func checkRecovered(t *testing.T, res map[string]any, from, to int) {
	t.Helper()
	sub := res["subs"].(map[string]any)["chat:a"].(map[string]any)
	pubs, _ := sub["publications"].([]any)
	if sub["recovered"] != true || len(pubs) != to-from+1 {
		t.Fatalf("recovery %v", sub)
	}
	for i, p := range pubs {
		if got := int(p.(map[string]any)["offset"].(float64)); got != from+i {
			t.Fatalf("recovered offset %d, want %d (%v)", got, from+i, sub)
		}
	}
}

// What a POST may be refused for, each leaving the session working.
func TestCommandRefusals(t *testing.T) {
	s := ht.Start(t, ht.Options{
		Hub:    hub.Config{MaxFrameCommands: 3, RouteTimeout: 200 * time.Millisecond},
		Server: server.Config{MaxMessageSize: 1024, MaxFrameCommands: 3},
	})
	c := openStream(t, s, map[string]any{"type": "connect", "token": ht.Token(t, "alice", nil)}, streamOptions{})
	for _, tc := range []struct {
		name    string
		session string
		body    string
		token   string
		want    int
	}{
		{"malformed", c.Session, `{"type":"subscribe",`, "", 400},
		{"not a command", c.Session, `[1,2]`, "", 400},
		{"empty", c.Session, "\n", "", 400},
		{"too many", c.Session, strings.Repeat(`{"type":"pong"}`+"\n", 4), "", 400},
		{"oversize", c.Session, `{"type":"publish","channel":"chat:a","data":"` + strings.Repeat("x", 1100) + `"}`, "", 413},
		{"unknown session", s.Hub.NewSession(), `{"type":"pong"}`, "", 404},
		{"no session", "", `{"type":"pong"}`, "", 404},
		{"client id", c.Result["client"].(string), `{"type":"pong"}`, "", 404},
		{"another user", c.Session, `{"type":"pong"}`, ht.Token(t, "bob", nil), 403},
		{"bad token", c.Session, `{"type":"pong"}`, "x.y.z", 403},
		{"own token", c.Session, `{"type":"pong"}`, ht.Token(t, "alice", nil), 204},
	} {
		var h http.Header
		if tc.token != "" {
			h = http.Header{"Authorization": {"Bearer " + tc.token}}
		}
		status, body := post(t, c.http, s.URL, tc.session, []byte(tc.body), h)
		if status != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.want, body)
		}
		if tc.want != 204 && !strings.Contains(string(body), `"error":{"code":`) {
			t.Errorf("%s: body %s", tc.name, body)
		}
	}
	// The session is untouched: it still runs commands.
	if r := c.Call("", map[string]any{"type": "subscribe", "channel": "chat:a"}); r.ErrorCode() != 0 {
		t.Fatalf("subscribe after refusals: %v", r)
	}
	if d, ok := c.WaitFor(0, func(m ht.Msg) bool { return m.Type() == "disconnect" }); ok {
		t.Fatalf("closed: %v", d)
	}

	// A session of a node that does not answer: 503 in RouteTimeout.
	start := time.Now()
	status, _ := post(t, c.http, s.URL, "nodeX.AAAAAAAAAAAAAAAAAAAAAA", []byte(`{"type":"pong"}`), nil)
	if status != http.StatusServiceUnavailable || time.Since(start) > 3*time.Second {
		t.Fatalf("foreign session: %d after %v", status, time.Since(start))
	}
}

// blockingProxy holds every subscribe until released.
type blockingProxy struct{ called, release chan struct{} }

func (p blockingProxy) Subscribe(ctx context.Context, _ *hub.SubscribeRequest) error {
	select {
	case p.called <- struct{}{}:
	default:
	}
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return nil
}

// A session whose connection is busy takes QueueLength POSTs, then 429;
// they run in order once it is free.
func TestCommandQueueFull(t *testing.T) {
	p := blockingProxy{called: make(chan struct{}, 1), release: make(chan struct{})}
	ns := ht.DefaultNamespaces()
	ns["slow"] = hub.Namespace{SubscribeProxy: true}
	s := ht.Start(t, ht.Options{
		Hub:    hub.Config{Namespaces: ns, SubscribeProxy: p},
		Server: server.Config{StreamQueueLength: 2},
	})
	c := openStream(t, s, map[string]any{"type": "connect", "token": ht.Token(t, "alice", nil)}, streamOptions{})
	post1 := func(body string) int {
		status, _ := c.Post(s.URL, []byte(body), nil)
		return status
	}
	if got := post1(`{"id":10,"type":"subscribe","channel":"slow:a"}`); got != 204 {
		t.Fatalf("first: %d", got)
	}
	// The connection now waits for the proxy: two more fit.
	<-p.called
	if got := post1(`{"id":11,"type":"publish","channel":"chat:a","data":1}`); got != 204 {
		t.Fatalf("second: %d", got)
	}
	if got := post1(`{"id":12,"type":"publish","channel":"chat:a","data":2}`); got != 204 {
		t.Fatalf("third: %d", got)
	}
	if got := post1(`{"id":13,"type":"publish","channel":"chat:a","data":3}`); got != http.StatusTooManyRequests {
		t.Fatalf("fourth: %d, want 429", got)
	}
	close(p.release)
	for _, id := range []int{10, 11, 12} {
		if r := c.Wait(func(m ht.Msg) bool { return m.ID() != 0 }, "reply"); r.ID() != id || r.ErrorCode() != 0 {
			t.Fatalf("reply %v, want id %d", r, id)
		}
	}
}
