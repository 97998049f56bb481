package main

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/services"
)

// TestConnectPrettyReplies: with --pretty, presence, presence counts and
// history replies print one entry a line, as live messages print, not as
// JSON.
func TestConnectPrettyReplies(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	s.MustAPI("publish", map[string]any{"channel": "chat:room", "data": map[string]any{"text": "hi"}})
	s.MustAPI("publish", map[string]any{"channel": "chat:room", "b64data": "AAEC"})
	epoch := s.MustAPI("history", map[string]any{"channel": "chat:room", "limit": 0})["epoch"]
	bob, _ := s.Connect(t, ht.Token(t, "bob", nil))
	bob.Call(map[string]any{"type": "subscribe", "channel": "chat:room"})
	bob.Call(map[string]any{"type": "publish", "channel": "chat:room", "data": "yo"})

	cmd := herald(t, nil, "connect", s.WSURL, "--pretty", "--token", ht.Token(t, "alice", nil), "--sub", "chat:room")
	cmd.Stdin = strings.NewReader(strings.Join([]string{
		"presence chat:room",
		"stats chat:room",
		"history chat:room",
		"history chat:room 0",
		`{"type":"presence_stats","channel":"chat:room"}`,
		"history nope:x",
	}, "\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, stderr.String())
	}
	got := string(out)
	aliceLine := func() string {
		for _, l := range strings.Split(got, "\n") {
			if strings.HasPrefix(l, "    alice (") {
				return l
			}
		}
		return ""
	}()
	want := []string{
		"< presence chat:room: 2 clients\n    alice (",
		aliceLine + "\n    bob (",
		"< presence_stats chat:room: 2 clients, 2 users\n",
		fmt.Sprintf("< history chat:room: 3 publications; the stream is at offset 3 (epoch %s)\n", epoch) +
			"    [chat:room #1] server: {\"text\":\"hi\"}\n" +
			"    [chat:room #2] server: \"\\x00\\x01\\x02\"\n" +
			"    [chat:room #3] bob: \"yo\"\n",
		fmt.Sprintf("< history chat:room: 0 publications; the stream is at offset 3 (epoch %s)\n", epoch),
		"< presence_stats chat:room: 2 clients, 2 users\n",
		"< history failed: herald: unknown namespace (102)\n",
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "< presence {") || strings.Contains(got, "< history {") || strings.Contains(got, "< presence_stats {") {
		t.Errorf("a reply printed as JSON:\n%s", got)
	}
}

// TestConnectSignalEndsQuietly: Ctrl-C or SIGTERM ends herald connect with
// exit 0 and nothing on stderr, connected or still trying to connect.
func TestConnectSignalEndsQuietly(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	down := "ws://127.0.0.1:" + strconv.Itoa(services.FreePort(t)) + "/ws"
	for _, tc := range []struct {
		name, url, state string
	}{
		{"connected", s.WSURL, "connected"},
		{"connecting", down, "disconnected"},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(tc.name+" "+sig.String(), func(t *testing.T) {
				cmd := herald(t, nil, "connect", tc.url, "--token", ht.Token(t, "carol", nil), "--sub", "chat:room")
				in, _ := cmd.StdinPipe() // left open: the input never ends
				defer in.Close()
				out, _ := cmd.StdoutPipe()
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := readLines(t, out)
				lines.next(func(m map[string]any) bool { return m["state"] == tc.state }, tc.state)
				cmd.Process.Signal(sig)
				if err := waitExit(cmd, 10*time.Second); err != nil {
					t.Fatalf("after %v: %v; stderr %q", sig, err, stderr.String())
				}
				if stderr.Len() > 0 {
					t.Fatalf("stderr after %v: %q", sig, stderr.String())
				}
			})
		}
	}
}

// TestConnectOverTCP: herald serve starts the raw TCP listener that
// tcp.address names, and herald connect speaks to it with a tcp:// URL.
func TestConnectOverTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := l.Addr().String()
	l.Close() // for herald serve to take
	startServeEnv(t, []string{"HERALD_TCP_ADDRESS=" + tcpAddr})
	cmd := herald(t, nil, "connect", "tcp://"+tcpAddr, "--sub", "chat:tcp")
	cmd.Stdin = strings.NewReader(`pub chat:tcp {"text":"over tcp"}` + "\n" + "presence chat:tcp\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, stderr.String())
	}
	if !strings.Contains(string(out), `{"text":"over tcp"}`) {
		t.Fatalf("the publication did not come back:\n%s%s", out, stderr.String())
	}
}

// TestConnectOverHTTP: herald connect speaks HTTP streaming with an http://
// URL: the publication comes back on the stream, the commands went by POST.
func TestConnectOverHTTP(t *testing.T) {
	_, addr, _ := startServeEnv(t, nil)
	cmd := herald(t, nil, "connect", "http://"+addr+"/stream", "--sub", "chat:http")
	cmd.Stdin = strings.NewReader(`pub chat:http {"text":"over http"}` + "\n" + "presence chat:http\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, stderr.String())
	}
	if !strings.Contains(string(out), `{"text":"over http"}`) {
		t.Fatalf("the publication did not come back:\n%s%s", out, stderr.String())
	}
}
