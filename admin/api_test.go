package admin_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/admin"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

func num(v any) int { f, _ := v.(float64); return int(f) }

func subscribe(t *testing.T, c *ht.Client, channel string) {
	t.Helper()
	if r := c.Call(map[string]any{"type": "subscribe", "channel": channel}); r.ErrorCode() != 0 {
		t.Fatalf("subscribe %s: %v", channel, r)
	}
}

func TestAPINodes(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	a, _ := c.Connect(t, ht.Token(t, "alice", nil))
	subscribe(t, a, "chat:a")
	c.Connect(t, ht.Token(t, "bob", nil))
	r := c.get(t, b, "nodes")
	nodes, _ := r.body["nodes"].([]any)
	if r.status != http.StatusOK || len(nodes) != 1 {
		t.Fatalf("nodes: %d %v", r.status, r.body)
	}
	n := nodes[0].(map[string]any)
	if num(n["clients"]) != 2 || num(n["users"]) != 2 || num(n["subs"]) != 1 || num(n["channels"]) != 1 {
		t.Fatalf("node: %v", n)
	}
	if _, ok := n["uptime"]; !ok {
		t.Fatalf("node without uptime: %v", n)
	}
	// The cumulative counters the dashboard turns into rates come through.
	c.post(t, b, "publish", map[string]any{"channel": "chat:a", "data": 1}, nil)
	a.Messages("chat:a", 1)
	n = c.get(t, b, "nodes").body["nodes"].([]any)[0].(map[string]any)
	if num(n["published"]) != 1 || num(n["delivered"]) != 1 {
		t.Fatalf("counters after one publish to one subscriber: %v", n)
	}
	if r := c.post(t, b, "nodes", map[string]any{}, nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST nodes: %d", r.status)
	}
}

func TestAPIChannels(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	for i, chs := range [][]string{{"chat:a", "chat:b"}, {"chat:a"}, {"news:x"}} {
		cl, _ := c.Connect(t, ht.Token(t, "u"+string(rune('0'+i)), nil))
		for _, ch := range chs {
			subscribe(t, cl, ch)
		}
	}
	r := c.get(t, b, "channels")
	if got := channelList(r); got != "chat:a=2 chat:b=1 news:x=1" || num(r.body["total"]) != 3 {
		t.Fatalf("channels: %q, total %v", got, r.body["total"])
	}
	if got := channelList(c.get(t, b, "channels?pattern=chat:*")); got != "chat:a=2 chat:b=1" {
		t.Fatalf("chat:*: %q", got)
	}
	if got := channelList(c.get(t, b, "channels?pattern=*x*")); got != "news:x=1" {
		t.Fatalf("*x*: %q", got)
	}
	if got := channelList(c.get(t, b, "channels?pattern=nothing")); got != "" {
		t.Fatalf("nothing: %q", got)
	}
	r = c.get(t, b, "channels?limit=1")
	if got := channelList(r); got != "chat:a=2" || num(r.body["total"]) != 3 {
		t.Fatalf("limit 1: %q, total %v", got, r.body["total"])
	}
	for _, bad := range []string{"0", "-1", "x"} {
		if r := c.get(t, b, "channels?limit="+bad); r.status != http.StatusBadRequest {
			t.Errorf("limit=%s: %d", bad, r.status)
		}
	}
}

func channelList(r reply) string {
	list, _ := r.body["channels"].([]any)
	var parts []string
	for _, e := range list {
		m := e.(map[string]any)
		parts = append(parts, m["name"].(string)+"="+string(rune('0'+num(m["subscribers"]))))
	}
	return strings.Join(parts, " ")
}

func TestAPIPresence(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	for _, u := range []string{"bob", "alice"} {
		cl, _ := c.Connect(t, ht.Token(t, u, nil))
		subscribe(t, cl, "chat:room")
	}
	r := c.get(t, b, "presence?channel=chat:room")
	list, _ := r.body["clients"].([]any)
	if r.status != http.StatusOK || len(list) != 2 {
		t.Fatalf("presence: %d %v", r.status, r.body)
	}
	first, second := list[0].(map[string]any), list[1].(map[string]any)
	if first["user"] != "alice" || second["user"] != "bob" || first["client"] == "" {
		t.Fatalf("presence order or fields: %v", list)
	}
	// The hub's refusals come back with the protocol's codes.
	for path, code := range map[string]int{
		"presence?channel=plain":      108, // the namespace keeps no presence
		"presence?channel=nope:x":     102,
		"presence?channel=":           107,
		"presence?channel=bad%20name": 107,
	} {
		if r := c.get(t, b, path); r.status != http.StatusBadRequest || r.errCode() != code {
			t.Errorf("%s: %d code %d, want 400 code %d", path, r.status, r.errCode(), code)
		}
	}
}

func TestAPIHistory(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	for _, text := range []string{"one", "two", "three"} {
		c.MustAPI("publish", map[string]any{"channel": "chat:h", "data": map[string]string{"text": text}})
	}
	r := c.get(t, b, "history?channel=chat:h&limit=2")
	pubs, _ := r.body["publications"].([]any)
	if r.status != http.StatusOK || len(pubs) != 2 || num(r.body["offset"]) != 3 || r.body["epoch"] == "" {
		t.Fatalf("history: %d %v", r.status, r.body)
	}
	newest := pubs[0].(map[string]any)
	if num(newest["offset"]) != 3 || newest["data"].(map[string]any)["text"] != "three" {
		t.Fatalf("history is not newest first: %v", pubs)
	}
	if r := c.get(t, b, "history?channel=plain"); r.errCode() != 108 {
		t.Fatalf("history of a channel without: %d %v", r.status, r.body)
	}
	if r := c.get(t, b, "history?channel=chat:h&limit=x"); r.status != http.StatusBadRequest {
		t.Fatalf("bad limit: %d", r.status)
	}
}

func TestAPIPublish(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	sub, _ := c.Connect(t, ht.Token(t, "reader", nil))
	subscribe(t, sub, "chat:room")
	r := c.post(t, b, "publish", map[string]any{"channel": "chat:room", "data": map[string]string{"text": "from admin"}}, nil)
	if r.status != http.StatusOK || num(r.body["offset"]) != 1 {
		t.Fatalf("publish: %d %v", r.status, r.body)
	}
	m := sub.Messages("chat:room", 1)[0]
	if m["data"].(map[string]any)["text"] != "from admin" {
		t.Fatalf("message: %v", m)
	}
	for name, tc := range map[string]struct {
		body   string
		status int
		code   int
	}{
		"malformed JSON":    {`{"channel":"chat:room","data":`, 400, 0},
		"unknown field":     {`{"channel":"chat:room","data":1,"extra":1}`, 400, 0},
		"no data":           {`{"channel":"chat:room"}`, 400, 0},
		"null data":         {`{"channel":"chat:room","data":null}`, 400, 0},
		"bad channel":       {`{"channel":"bad name","data":1}`, 400, 107},
		"unknown namespace": {`{"channel":"nope:x","data":1}`, 400, 102},
		"too large":         {`{"channel":"chat:room","data":"` + strings.Repeat("x", 2<<20) + `"}`, 413, 0},
	} {
		r := c.post(t, b, "publish", tc.body, nil)
		if r.status != tc.status || r.errCode() != tc.code || r.body["error"] == nil {
			t.Errorf("%s: %d code %d (%v), want %d code %d", name, r.status, r.errCode(), r.body["error"], tc.status, tc.code)
		}
	}
	// Nothing refused reached the subscriber, and it still works.
	if m, ok := sub.WaitFor(50*time.Millisecond, func(m ht.Msg) bool { return m.Type() == "message" }); ok {
		t.Fatalf("a refused publish arrived: %v", m)
	}
	c.post(t, b, "publish", map[string]any{"channel": "chat:room", "data": 2}, nil)
	sub.Messages("chat:room", 1)
}

func TestAPIDisconnect(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	victim, _ := c.Connect(t, ht.Token(t, "mallory", nil))
	bystander, _ := c.Connect(t, ht.Token(t, "alice", nil))
	if r := c.post(t, b, "disconnect", map[string]string{}, nil); r.status != http.StatusBadRequest {
		t.Fatalf("disconnect without user: %d", r.status)
	}
	if r := c.post(t, b, "disconnect", map[string]string{"user": "mallory"}, nil); r.status != http.StatusOK {
		t.Fatalf("disconnect: %d %v", r.status, r.body)
	}
	victim.ExpectClose(4502)
	subscribe(t, bystander, "chat:still-here")
	if !strings.Contains(c.logs.String(), "user=mallory") {
		t.Fatalf("the disconnect is not in the audit log:\n%s", c.logs.String())
	}
}

func TestAPILogLevel(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	if r := c.get(t, b, "loglevel"); r.body["level"] != "INFO" {
		t.Fatalf("level: %v", r.body)
	}
	if r := c.post(t, b, "loglevel", map[string]string{"level": "debug"}, nil); r.status != http.StatusOK || r.body["level"] != "DEBUG" {
		t.Fatalf("set debug: %d %v", r.status, r.body)
	}
	if c.level.Level() != slog.LevelDebug {
		t.Fatalf("level var: %v", c.level.Level())
	}
	for _, bad := range []string{`{"level":"verbose"}`, `{"level":"INFO+2"}`, `{}`, `nope`} {
		if r := c.post(t, b, "loglevel", bad, nil); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	if c.level.Level() != slog.LevelDebug {
		t.Fatalf("a refused request changed the level to %v", c.level.Level())
	}

	// Without a LevelVar the console manages no level.
	d := startConsole(t, func(o *admin.Options) { o.LevelVar = nil })
	db := d.login(t)
	if r := d.get(t, db, "loglevel"); r.status != http.StatusNotFound {
		t.Fatalf("GET without LevelVar: %d", r.status)
	}
	if r := d.post(t, db, "loglevel", map[string]string{"level": "debug"}, nil); r.status != http.StatusNotFound {
		t.Fatalf("POST without LevelVar: %d", r.status)
	}
}
