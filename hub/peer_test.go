package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// secret signs the tokens of the hubs of tokenHub.
var secret = []byte("hub-test-secret-0123456789abcdef")

// tokenHub runs a hub on a memory broker with namespaces, verifying HMAC
// tokens signed with secret, shut down with the test.
func tokenHub(t *testing.T, cfg hub.Config, namespaces map[string]hub.Namespace) *hub.Hub {
	t.Helper()
	b := memory.New(memory.Options{})
	cfg.Namespaces = namespaces
	h := hub.New(cfg, b, auth.NewHMACVerifier(secret))
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Shutdown(context.Background())
		b.Close()
	})
	return h
}

// token signs claims for user, expiring in an hour.
func token(t *testing.T, user string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := auth.SignHMAC(secret, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// peer is a client of the hub on a fake transport that speaks JSON: it
// keeps every message the hub sends and the code it closes with, as a
// socket would carry them.
type peer struct {
	t      *testing.T
	c      *hub.Client
	mu     sync.Mutex
	msgs   []map[string]any
	closed protocol.CloseCode
	nextID int
}

func (p *peer) Writes() hub.Writes { return hub.Writes{Frame: p.WriteFrame} }

func (p *peer) WriteFrame(parts [][]byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range bytes.Split(bytes.Join(parts, nil), []byte{'\n'}) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			p.t.Errorf("the hub wrote %q: %v", line, err)
			continue
		}
		p.msgs = append(p.msgs, m)
	}
	return nil
}

func (p *peer) Close(code protocol.CloseCode, _ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = code
}

// connect makes a peer and connects it with tok; it fails the test unless
// the connect succeeds.
func connect(t *testing.T, h *hub.Hub, tok string) *peer {
	t.Helper()
	p := &peer{t: t}
	p.c = h.NewClient(p, protocol.JSON, hub.Peer{Remote: "test"})
	t.Cleanup(p.c.Closed)
	if r := p.call(map[string]any{"type": "connect", "token": tok}); r["error"] != nil {
		t.Fatalf("connect: %v", r)
	}
	return p
}

// call sends cmd with the next id and returns the reply to it.
func (p *peer) call(cmd map[string]any) map[string]any {
	p.t.Helper()
	p.nextID++
	id := p.nextID
	cmd["id"] = id
	frame, err := json.Marshal(cmd)
	if err != nil {
		p.t.Fatal(err)
	}
	p.c.HandleFrame(frame)
	return p.waitFor(fmt.Sprintf("the reply to %v", cmd), func(m map[string]any) bool { return m["id"] == float64(id) })
}

// waitFor returns the first message that matches, waiting for it.
func (p *peer) waitFor(what string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	var found map[string]any
	wait.For(p.t, 5*time.Second, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, m := range p.msgs {
			if match(m) {
				found = m
				return nil
			}
		}
		return fmt.Errorf("no %s among %v (closed %d)", what, p.msgs, p.closed)
	})
	return found
}

// push waits for a join or leave push on channel about user.
func (p *peer) push(typ, channel, user string) map[string]any {
	p.t.Helper()
	return p.waitFor(typ+" of "+user+" on "+channel, func(m map[string]any) bool {
		info, _ := m["info"].(map[string]any)
		return m["type"] == typ && m["channel"] == channel && info["user"] == user
	})
}

// closedWith returns the close code, 0 while the connection is open.
func (p *peer) closedWith() protocol.CloseCode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// errorCode is the code of a reply's error, 0 when it succeeded.
func errorCode(reply map[string]any) protocol.ErrorCode {
	e, _ := reply["error"].(map[string]any)
	code, _ := e["code"].(float64)
	return protocol.ErrorCode(code)
}
