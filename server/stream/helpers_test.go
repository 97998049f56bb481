package stream_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// streamClient reads one stream connection over a real HTTP connection,
// as an EventSource does for /sse, and posts its commands to /sse/cmd.
// Every server message is kept as the JSON encoding spells it; an SSE
// message carries the last event id seen in "_id", as an EventSource
// would report it.
type streamClient struct {
	t    testing.TB
	base string
	kind string // "sse", "ndjson", "proto"
	enc  protocol.Encoding
	http *http.Client
	resp *http.Response

	Session string
	Result  map[string]any // the connect result

	mu     sync.Mutex
	cond   *sync.Cond
	msgs   []ht.Msg
	lastID string
	closed bool
	readEr error
	nextID int
	done   chan struct{}
}

// streamOptions tunes how a stream is opened.
type streamOptions struct {
	kind    string // "sse" (default), "ndjson", "proto"
	post    bool   // /stream: the connect in a POST body
	header  http.Header
	noWait  bool // do not wait for the connect reply
	wantErr int  // expect this HTTP status instead of a stream
}

// openStream opens a stream with connect (a JSON connect command) and
// waits for its connect reply.
func openStream(t testing.TB, s *ht.Server, connect map[string]any, o streamOptions) *streamClient {
	t.Helper()
	if o.kind == "" {
		o.kind = "sse"
	}
	c := &streamClient{
		t: t, base: s.URL, kind: o.kind, enc: protocol.JSON,
		http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		done: make(chan struct{}),
	}
	c.cond = sync.NewCond(&c.mu)
	if o.kind == "proto" {
		c.enc = protocol.Protobuf
	}
	cmdJSON, _ := json.Marshal(connect)
	var req *http.Request
	switch {
	case o.kind == "sse":
		req, _ = http.NewRequest(http.MethodGet, s.URL+"/sse?connect="+url.QueryEscape(string(cmdJSON)), nil)
	case o.post && o.kind == "proto":
		var pc protocol.Command
		if err := json.Unmarshal(cmdJSON, &pc); err != nil {
			t.Fatal(err)
		}
		body, _ := protocol.Protobuf.AppendCommand(nil, &pc)
		req, _ = http.NewRequest(http.MethodPost, s.URL+"/stream", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
	case o.post:
		req, _ = http.NewRequest(http.MethodPost, s.URL+"/stream", bytes.NewReader(cmdJSON))
	default:
		q := "/stream?connect=" + url.QueryEscape(string(cmdJSON))
		if o.kind == "proto" {
			q += "&encoding=proto"
		}
		req, _ = http.NewRequest(http.MethodGet, s.URL+q, nil)
	}
	for k, v := range o.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	c.resp = resp
	t.Cleanup(c.Close)
	if o.wantErr != 0 {
		if resp.StatusCode != o.wantErr {
			t.Fatalf("status %d, want %d", resp.StatusCode, o.wantErr)
		}
		close(c.done)
		return c
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("open stream: status %d: %s", resp.StatusCode, b)
	}
	go c.readLoop()
	if o.noWait {
		return c
	}
	id := 1
	if f, ok := connect["id"].(int); ok {
		id = f
	}
	c.nextID = id
	r := c.Wait(func(m ht.Msg) bool { return m.ID() == id }, "connect reply")
	if r.ErrorCode() != 0 {
		t.Fatalf("connect failed: %v", r)
	}
	c.Result = r.Result()
	c.Session, _ = c.Result["session"].(string)
	return c
}

// Close ends the stream from the client's side and waits for its reader.
func (c *streamClient) Close() {
	_ = c.resp.Body.Close()
	<-c.done
	c.http.CloseIdleConnections()
}

func (c *streamClient) readLoop() {
	defer close(c.done)
	br := bufio.NewReader(c.resp.Body)
	var err error
	switch c.kind {
	case "sse":
		err = c.readSSE(br)
	case "ndjson":
		for {
			var line []byte
			if line, err = br.ReadBytes('\n'); err != nil {
				break
			}
			c.add(bytes.TrimSuffix(line, []byte{'\n'}), "")
		}
	case "proto":
		for {
			var n uint64
			if n, err = binary.ReadUvarint(br); err != nil {
				break
			}
			msg := make([]byte, n)
			if _, err = io.ReadFull(br, msg); err != nil {
				break
			}
			frame := binary.AppendUvarint(nil, n)
			frame = append(frame, msg...)
			err = protocol.Protobuf.DecodeServerFrame(frame, func(m *protocol.ServerMessage) error {
				b, err := ht.ServerMessageJSON(m)
				if err == nil {
					c.add(b, "")
				}
				return err
			})
			if err != nil {
				c.t.Errorf("bad protobuf message: %v", err)
				break
			}
		}
	}
	c.mu.Lock()
	c.closed, c.readEr = true, err
	c.cond.Broadcast()
	c.mu.Unlock()
}

// readSSE parses events as an EventSource does: data lines joined, id
// lines setting the last event id, a blank line dispatching.
func (c *streamClient) readSSE(br *bufio.Reader) error {
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if len(data) > 0 {
				c.add([]byte(strings.Join(data, "\n")), "sse")
			}
			data = nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case strings.HasPrefix(line, "id:"):
			c.mu.Lock()
			c.lastID = strings.TrimPrefix(strings.TrimPrefix(line, "id:"), " ")
			c.mu.Unlock()
		default:
			c.t.Errorf("unexpected SSE line %q", line)
		}
	}
}

func (c *streamClient) add(b []byte, sse string) {
	var m ht.Msg
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Errorf("server sent invalid JSON %q: %v", b, err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sse != "" {
		m["_id"] = c.lastID
	}
	c.msgs = append(c.msgs, m)
	c.cond.Broadcast()
}

// LastEventID is what an EventSource would send when it reconnects.
func (c *streamClient) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID
}

// Wait returns (and removes) the first message that matches, waiting up to
// 5 s for it.
func (c *streamClient) Wait(match func(ht.Msg) bool, what string, args ...any) ht.Msg {
	c.t.Helper()
	m, ok := c.WaitFor(5*time.Second, match)
	if !ok {
		c.mu.Lock()
		pending, err := c.msgs, c.readEr
		c.mu.Unlock()
		c.t.Fatalf("no "+what+" within 5s (read error %v; pending %v)", append(args, err, pending)...)
	}
	return m
}

// WaitFor is Wait without failing.
func (c *streamClient) WaitFor(d time.Duration, match func(ht.Msg) bool) (ht.Msg, bool) {
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for i, m := range c.msgs {
			if match(m) {
				c.msgs = append(c.msgs[:i:i], c.msgs[i+1:]...)
				return m, true
			}
		}
		if c.closed || time.Now().After(deadline) {
			return nil, false
		}
		c.cond.Wait()
	}
}

// Push waits for the next push of the given type.
func (c *streamClient) Push(typ string) ht.Msg {
	c.t.Helper()
	return c.Wait(func(m ht.Msg) bool { return m.Type() == typ }, "%s push", typ)
}

// Messages waits for n message pushes on channel and returns them in order.
func (c *streamClient) Messages(channel string, n int) []ht.Msg {
	c.t.Helper()
	out := make([]ht.Msg, 0, n)
	for len(out) < n {
		out = append(out, c.Wait(func(m ht.Msg) bool { return m.Type() == "message" && m["channel"] == channel }, "message %d/%d on %s", len(out)+1, n, channel))
	}
	return out
}

// WaitEnd waits for the response to end and reports whether it ended
// cleanly (io.EOF: the server ended it).
func (c *streamClient) WaitEnd(d time.Duration) error {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		c.t.Fatalf("stream not ended within %v", d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(c.readEr, io.EOF) {
		return nil
	}
	return c.readEr
}

// ExpectClose waits for a disconnect push with code, then the end of the
// response.
func (c *streamClient) ExpectClose(code int) {
	c.t.Helper()
	d := c.Push("disconnect")
	if got := int(d["code"].(float64)); got != code {
		c.t.Fatalf("disconnect code %d, want %d (%v)", got, code, d)
	}
	if err := c.WaitEnd(5 * time.Second); err != nil {
		c.t.Fatalf("stream ended with %v, want a clean end", err)
	}
}

// encode returns cmd in the stream's encoding.
func (c *streamClient) encode(cmd map[string]any) []byte {
	c.t.Helper()
	b, _ := json.Marshal(cmd)
	if c.enc == protocol.JSON {
		return b
	}
	var pc protocol.Command
	if err := json.Unmarshal(b, &pc); err != nil {
		c.t.Fatal(err)
	}
	b, _ = protocol.Protobuf.AppendCommand(nil, &pc)
	return b
}

// Post posts body to /sse/cmd for this session on base (the node's URL
// when "") and returns the status and the response body.
func (c *streamClient) Post(base string, body []byte, header http.Header) (int, []byte) {
	c.t.Helper()
	return post(c.t, c.http, base, c.Session, body, header)
}

func post(t testing.TB, hc *http.Client, base, session string, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/sse/cmd?session="+url.QueryEscape(session), bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Call posts cmd with a fresh id to base and waits for its reply on the
// stream.
func (c *streamClient) Call(base string, cmd map[string]any) ht.Msg {
	c.t.Helper()
	if base == "" {
		base = c.base
	}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	cmd["id"] = id
	if status, body := c.Post(base, c.encode(cmd), nil); status != http.StatusNoContent {
		c.t.Fatalf("post %v: status %d: %s", cmd["type"], status, body)
	}
	return c.Wait(func(m ht.Msg) bool { return m.ID() == id }, "reply to %v", cmd["type"])
}
