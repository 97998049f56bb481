package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

func TestTokenCommand(t *testing.T) {
	const secret = "cli-test-secret-0123456789"
	out, code := run(t, nil, "token", "--secret", secret, "--user", "alice", "--ttl", "10m", "--info", `{"name":"Alice"}`, "--channels", "team:*,news")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	v := auth.NewHMACVerifier([]byte(secret))
	c, err := v.VerifyConnect(strings.TrimSpace(out))
	if err != nil || c.User != "alice" || string(c.Info) != `{"name":"Alice"}` || len(c.Channels) != 2 || c.ExpiresAt < time.Now().Add(9*time.Minute).Unix() {
		t.Fatalf("claims %+v %v", c, err)
	}
	out, _ = run(t, []string{"HERALD_TOKEN_HMAC_SECRET=" + secret}, "token", "--user", "bob", "--channel", "secret:x")
	if ch, err := v.VerifyChannel(strings.TrimSpace(out)); err != nil || ch.Channel != "secret:x" {
		t.Fatalf("channel token %+v %v", ch, err)
	}
	for _, args := range [][]string{
		{"token", "--user", "x"},                                    // no secret
		{"token", "--secret", secret},                               // no user
		{"token", "--secret", secret, "--user", "x", "--info", "{"}, // bad info
	} {
		if out, code := run(t, nil, args...); code == 0 || strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Errorf("%v: exit %d, output %q (want one error line, non-zero exit)", args, code, out)
		}
	}
}

func TestAPIAndPublishCommands(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	api := []string{"--api-url", s.URL, "--api-key", ht.APIKey}
	out, code := run(t, nil, append([]string{"api", "info"}, api...)...)
	if code != 0 || !strings.Contains(out, `"nodes"`) {
		t.Fatalf("api info: exit %d %s", code, out)
	}
	out, code = run(t, nil, append([]string{"publish", "chat:cli", `{"text":"hi"}`}, api...)...)
	if code != 0 || !strings.Contains(out, `"offset":1`) {
		t.Fatalf("publish: exit %d %s", code, out)
	}
	out, code = run(t, []string{"HERALD_API_URL=" + s.URL, "HERALD_API_KEY=" + ht.APIKey}, "publish", "--binary", "chat:cli", "raw bytes")
	if code != 0 || !strings.Contains(out, `"offset":2`) {
		t.Fatalf("publish --binary with env: exit %d %s", code, out)
	}
	h := s.MustAPI("history", map[string]any{"channel": "chat:cli"})
	if p := h["publications"].([]any)[1].(map[string]any); p["b64"] == nil {
		t.Fatalf("binary publication stored as %v", p)
	}
	cmd := herald(t, nil, append([]string{"api", "presence_stats", "-"}, api...)...)
	cmd.Stdin = strings.NewReader(`{"channel":"chat:cli"}`)
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), `"clients":0`) {
		t.Fatalf("api from stdin: %v %s", err, b)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"api", "info", "--api-url", s.URL, "--api-key", "wrong-key-wrong-key"}, "401"},
		{append([]string{"publish", "nope:x", "1"}, api...), "(102)"},
		{append([]string{"publish", "chat:x", "not json"}, api...), "not JSON"},
		{append([]string{"api", "info", "{"}, api...), "not valid JSON"},
		{[]string{"api", "info", "--api-url", "http://127.0.0.1:1"}, "API key"},
	}
	for _, tc := range cases {
		out, code := run(t, nil, tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q, want %q", tc.args, code, out, tc.want)
		}
	}
}

// lines reads a process's stdout as JSON lines.
type lines struct {
	t  *testing.T
	ch chan map[string]any
}

func readLines(t *testing.T, r io.Reader) *lines {
	l := &lines{t: t, ch: make(chan map[string]any, 100)}
	go func() {
		defer close(l.ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				l.ch <- m
			}
		}
	}()
	return l
}

// next waits for a line that matches.
func (l *lines) next(match func(map[string]any) bool, what string) map[string]any {
	l.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-l.ch:
			if !ok {
				l.t.Fatalf("output ended before %s", what)
			}
			if match(m) {
				return m
			}
		case <-timeout:
			l.t.Fatalf("no %s within 10s", what)
		}
	}
}

// TestConnectTwoTerminals is the README's two-terminal chat: A listens on a
// room, B publishes and sends A a direct message from a script.
// It runs with A on each encoding; the output is the same JSON either way.
func TestConnectTwoTerminals(t *testing.T) {
	for _, flags := range [][]string{nil, {"--proto"}} {
		t.Run(fmt.Sprint("flags", flags), func(t *testing.T) { testTwoTerminals(t, flags) })
	}
}

func testTwoTerminals(t *testing.T, flags []string) {
	s := ht.Start(t, ht.Options{})
	a := herald(t, nil, append([]string{"connect", s.WSURL, "--token", ht.Token(t, "alice", nil), "--sub", "chat:room"}, flags...)...)
	aIn, _ := a.StdinPipe()
	aOut, _ := a.StdoutPipe()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Process.Kill(); a.Wait() })
	la := readLines(t, aOut)
	// The first line after the state changes is the subscribe reply, not
	// A's own join that the server sends right behind it.
	if first := la.next(func(m map[string]any) bool { return m["type"] != "state" }, "A's first line"); first["reply"] != "subscribe" || first["channel"] != "chat:room" {
		t.Fatalf("A's first line is %v, want the subscribe reply", first)
	}

	b := herald(t, nil, "connect", s.WSURL, "--token", ht.Token(t, "bob", nil))
	b.Stdin = strings.NewReader("pub chat:room {\"text\":\"hello alice\"}\nsend alice {\"text\":\"psst\"}\npresence chat:room\n")
	bOut, err := b.Output()
	if err != nil {
		t.Fatalf("B: %v\n%s", err, bOut)
	}
	if !strings.Contains(string(bOut), `{"reply":"publish","result":{"offset":1,`) || !strings.Contains(string(bOut), `"reply":"presence"`) {
		t.Fatalf("B's output:\n%s", bOut)
	}

	msg := la.next(func(m map[string]any) bool { return m["type"] == "message" }, "A's message")
	if d := msg["data"].(map[string]any); d["text"] != "hello alice" || msg["info"].(map[string]any)["user"] != "bob" {
		t.Fatalf("A got %v", msg)
	}
	dm := la.next(func(m map[string]any) bool { return m["type"] == "direct" }, "A's direct message")
	if dm["from"].(map[string]any)["user"] != "bob" {
		t.Fatalf("A got %v", dm)
	}
	aIn.Close() // end of stdin: A exits 0
	if err := waitExit(a, 5*time.Second); err != nil {
		t.Fatalf("A after end of input: %v", err)
	}
}

func TestConnectExitCodes(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	if out, code := run(t, nil, "connect", s.WSURL, "--token", "bad"); code != 1 || !strings.Contains(out, "4501") {
		t.Fatalf("bad token: exit %d %q", code, out)
	}
	if out, code := run(t, nil, "connect", s.WSURL, "--since", "chat:x=notanumber"); code != 1 || !strings.Contains(out, "CHANNEL=OFFSET:EPOCH") {
		t.Fatalf("bad --since: exit %d %q", code, out)
	}
	// Disconnected for good by the server while waiting for input: exit 1.
	c := herald(t, nil, "connect", s.WSURL, "--token", ht.Token(t, "carol", nil))
	in, _ := c.StdinPipe() // left open: the input never ends
	defer in.Close()
	out, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	lc := readLines(t, out)
	lc.next(func(m map[string]any) bool { return m["state"] == "connected" }, "connected")
	s.MustAPI("disconnect", map[string]any{"user": "carol"})
	err := waitExit(c, 5*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("after API disconnect: %v", err)
	}
}
