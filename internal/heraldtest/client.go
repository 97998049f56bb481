package heraldtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/protocol"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func readAll(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}

// Msg is one decoded server message (reply or push).
type Msg map[string]any

// Type returns the push type, "" for replies.
func (m Msg) Type() string { s, _ := m["type"].(string); return s }

// Seq returns the message's arrival number on its connection.
func (m Msg) Seq() int { f, _ := m["_seq"].(float64); return int(f) }

// ID returns the reply id, 0 for pushes.
func (m Msg) ID() int { f, _ := m["id"].(float64); return int(f) }

// Result returns the reply's result object.
func (m Msg) Result() map[string]any { r, _ := m["result"].(map[string]any); return r }

// ErrorCode returns the reply's error code, 0 when it has none.
func (m Msg) ErrorCode() int {
	e, _ := m["error"].(map[string]any)
	f, _ := e["code"].(float64)
	return int(f)
}

// Client is a protocol-speaking test client over a real WebSocket. A
// background reader decodes every frame (splitting batched ones) into a
// queue that the Read and Call helpers consume.
type Client struct {
	t    testing.TB
	Conn *websocket.Conn
	// Encoding is the one the server negotiated: Protobuf when it accepted
	// herald.v1.proto, JSON otherwise.
	Encoding protocol.Encoding
	mu       sync.Mutex
	cond     *sync.Cond
	msgs     []Msg
	closed   bool
	// CloseCode and CloseReason are set when the server closed the
	// connection.
	CloseCode   websocket.StatusCode
	CloseReason string
	nextID      int
	seq         int
	// Frames counts data frames received (to observe batching).
	Frames int
}

// Dial opens a WebSocket to s in s.Encoding without sending connect.
func (s *Server) Dial(t testing.TB) *Client {
	t.Helper()
	return Dial(t, s.WSURL, &websocket.DialOptions{Subprotocols: []string{s.Encoding.Subprotocol()}})
}

// Connect dials s in s.Encoding and sends connect with token ("" for
// anonymous), failing the test unless connect succeeds. It returns the
// connect result.
func (s *Server) Connect(t testing.TB, token string) (*Client, map[string]any) {
	t.Helper()
	return connect(t, s.Dial(t), token)
}

// Dial opens a WebSocket to url without sending connect. The client speaks
// whatever encoding the server picks from opts' subprotocols.
func Dial(t testing.TB, url string, opts *websocket.DialOptions) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	conn.SetReadLimit(64 << 20)
	c := &Client{t: t, Conn: conn}
	if conn.Subprotocol() == protocol.SubprotocolProtobuf {
		c.Encoding = protocol.Protobuf
	}
	c.cond = sync.NewCond(&c.mu)
	go c.readLoop()
	t.Cleanup(func() { c.Conn.CloseNow() })
	return c
}

// Connect dials url in JSON and sends connect with token ("" for
// anonymous), failing the test unless connect succeeds. It returns the
// connect result.
func Connect(t testing.TB, url, token string) (*Client, map[string]any) {
	t.Helper()
	return connect(t, Dial(t, url, nil), token)
}

func connect(t testing.TB, c *Client, token string) (*Client, map[string]any) {
	t.Helper()
	cmd := map[string]any{"type": "connect"}
	if token != "" {
		cmd["token"] = token
	}
	r := c.Call(cmd)
	if r.ErrorCode() != 0 {
		t.Fatalf("connect failed: %v", r)
	}
	return c, r.Result()
}

func (c *Client) readLoop() {
	for {
		_, data, err := c.Conn.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.closed = true
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				c.CloseCode, c.CloseReason = ce.Code, ce.Reason
			}
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		c.Frames++
		var lines [][]byte
		if c.Encoding == protocol.Protobuf {
			lines, err = protoAsJSON(data)
		} else {
			lines, err = splitLines(data)
		}
		if err != nil {
			c.t.Errorf("server sent a bad frame %q: %v", data, err)
		}
		for _, line := range lines {
			var m Msg
			if err := json.Unmarshal(line, &m); err != nil {
				c.t.Errorf("server sent invalid JSON %q: %v", line, err)
				continue
			}
			c.seq++
			m["_seq"] = float64(c.seq) // arrival order, for ordering assertions
			c.msgs = append(c.msgs, m)
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// Send writes one command: a value shaped like a JSON command (a map),
// encoded in the client's encoding, or raw bytes/string sent as they are in
// a frame of the encoding's type.
func (c *Client) Send(cmd any) {
	c.t.Helper()
	b := rawOrJSON(c.t, cmd)
	switch cmd.(type) {
	case []byte, string:
	default:
		if c.Encoding == protocol.Protobuf {
			var pc protocol.Command
			if err := json.Unmarshal(b, &pc); err != nil {
				c.t.Fatalf("command %s: %v", b, err)
			}
			b, _ = protocol.Protobuf.AppendCommand(nil, &pc)
		}
	}
	typ := websocket.MessageText
	if c.Encoding.Binary() {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Conn.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Call sends cmd with a fresh id and waits for its reply.
func (c *Client) Call(cmd map[string]any) Msg {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	cmd["id"] = id
	c.Send(cmd)
	return c.Wait(func(m Msg) bool { return m.ID() == id }, "reply to %v", cmd["type"])
}

// Wait returns (and removes) the first message that matches, waiting up to
// 5 s for it.
func (c *Client) Wait(match func(Msg) bool, what string, args ...any) Msg {
	c.t.Helper()
	m, ok := c.WaitFor(5*time.Second, match)
	if !ok {
		c.mu.Lock()
		pending := c.msgs
		code := c.CloseCode
		c.mu.Unlock()
		c.t.Fatalf("no "+what+" within 5s (closed with %d; pending %v)", append(args, code, pending)...)
	}
	return m
}

// WaitFor is Wait without failing: it reports whether a match arrived.
func (c *Client) WaitFor(d time.Duration, match func(Msg) bool) (Msg, bool) {
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
func (c *Client) Push(typ string) Msg {
	c.t.Helper()
	return c.Wait(func(m Msg) bool { return m.Type() == typ }, "%s push", typ)
}

// Messages waits for n message pushes on channel and returns them in order.
func (c *Client) Messages(channel string, n int) []Msg {
	c.t.Helper()
	out := make([]Msg, 0, n)
	for len(out) < n {
		out = append(out, c.Wait(func(m Msg) bool { return m.Type() == "message" && m["channel"] == channel }, "message %d/%d on %s", len(out)+1, n, channel))
	}
	return out
}

// All returns and removes every message received so far.
func (c *Client) All() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.msgs
	c.msgs = nil
	return out
}

// WaitClosed waits for the server to close the connection and returns the
// close code.
func (c *Client) WaitClosed(d time.Duration) websocket.StatusCode {
	c.t.Helper()
	timer := time.AfterFunc(d, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed {
		if time.Now().After(deadline) {
			c.t.Fatalf("connection not closed within %v", d)
		}
		c.cond.Wait()
	}
	return c.CloseCode
}

// ExpectClose waits for a disconnect push with code followed by a close frame
// with the same code.
func (c *Client) ExpectClose(code int) {
	c.t.Helper()
	d := c.Push("disconnect")
	if got := int(d["code"].(float64)); got != code {
		c.t.Fatalf("disconnect push code %d, want %d (%v)", got, code, d)
	}
	if got := c.WaitClosed(5 * time.Second); int(got) != code {
		c.t.Fatalf("close code %d, want %d", got, code)
	}
}

// HTTPGet fetches a path from the server and returns status and body.
func (s *Server) HTTPGet(path string) (int, string) {
	s.t.Helper()
	resp, err := s.http.Get(s.URL + path)
	if err != nil {
		s.t.Fatalf("get %s: %v", path, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, strings.TrimSpace(string(readAll(resp.Body)))
}

// splitLines splits a JSON frame into its messages.
func splitLines(frame []byte) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(frame))
	sc.Buffer(nil, len(frame)+1)
	for sc.Scan() {
		if line := sc.Bytes(); len(bytes.TrimSpace(line)) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	return out, sc.Err()
}

// protoAsJSON decodes a Protobuf frame and writes each message as the JSON
// encoding would have, so that tests see one shape whatever the wire.
func protoAsJSON(frame []byte) ([][]byte, error) {
	var out [][]byte
	err := protocol.Protobuf.DecodeServerFrame(frame, func(m *protocol.ServerMessage) error {
		b, err := ServerMessageJSON(m)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

// ServerMessageJSON returns a decoded server message as the JSON encoding
// spells it, encoded with the JSON codec: what a Protobuf client compares
// with expectations written in the JSON encoding.
func ServerMessageJSON(m *protocol.ServerMessage) ([]byte, error) {
	j := protocol.JSON
	if m.ID != 0 {
		if m.Error != nil {
			return j.AppendErrorReply(nil, m.ID, m.Error), nil
		}
		res, err := m.ResultJSON()
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"id": m.ID, "result": res})
	}
	pub := &protocol.Publication{Offset: m.Offset, Data: m.Data, Info: m.Info, Time: m.Time}
	switch m.Type {
	case protocol.PushMessage:
		return j.AppendMessagePush(nil, m.Channel, pub), nil
	case protocol.PushDirect:
		return j.AppendDirectPush(nil, m.From, pub), nil
	case protocol.PushJoin, protocol.PushLeave:
		var info protocol.ClientInfo
		if m.Info != nil {
			info = *m.Info
		}
		return j.AppendPresencePush(nil, m.Type, m.Channel, info), nil
	case protocol.PushSubscribed:
		return j.AppendSubscribedPush(nil, m.Channel, &protocol.SubscribeResult{
			Offset: m.Offset, Epoch: m.Epoch, Recovered: m.Recovered, Publications: m.Publications,
		})
	case protocol.PushUnsubscribed:
		return j.AppendUnsubscribedPush(nil, m.Channel, m.Code, m.Reason), nil
	case protocol.PushRefreshNeeded:
		return j.AppendRefreshNeededPush(nil, m.Expires), nil
	case protocol.PushDisconnect:
		return j.AppendDisconnectPush(nil, protocol.Disconnect{Code: protocol.CloseCode(m.Code), Reason: m.Reason, Reconnect: m.Reconnect}), nil
	case protocol.PushPing:
		return j.PingPush(), nil
	}
	return nil, fmt.Errorf("unknown push type %q", m.Type)
}
