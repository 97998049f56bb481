package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/coder/websocket"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
)

// The runner of the conformance vectors (conformance/README.md): it
// replays a vector's steps against a real server, encoding commands with
// the protocol package's codec for the encoding under test and comparing
// what the server sends, decoded with the same codec and written in the
// JSON encoding's form, with the vector's patterns.

// vector is one conformance/vectors/*.json file.
type vector struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Encodings   []string `json:"encodings"`
	Clients     []string `json:"clients"`
	Steps       []step   `json:"steps"`
}

// step is one line of a vector; which fields are set says what it does.
type step struct {
	Client      string            `json:"client,omitempty"`
	Send        json.RawMessage   `json:"send,omitempty"`
	SendBatch   json.RawMessage   `json:"sendBatch,omitempty"`
	SendRaw     *string           `json:"sendRaw,omitempty"`
	Expect      json.RawMessage   `json:"expect,omitempty"`
	ExpectNone  *struct{ MS int } `json:"expectNone,omitempty"`
	ExpectClose int               `json:"expectClose,omitempty"`
	Close       bool              `json:"close,omitempty"`
	Connect     bool              `json:"connect,omitempty"`
	API         string            `json:"api,omitempty"`
	Params      json.RawMessage   `json:"params,omitempty"`
	Status      int               `json:"status,omitempty"`
}

// expectTimeout bounds the wait for each expected message or close.
const expectTimeout = 5 * time.Second

// readVector reads and checks a vector file.
func readVector(path string) (*vector, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v vector
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v.Name == "" || v.Description == "" || len(v.Encodings) == 0 || len(v.Steps) == 0 {
		return nil, fmt.Errorf("%s: name, description, encodings and steps are required", path)
	}
	for i, s := range v.Steps {
		if s.Client != "" && !slices.Contains(v.Clients, s.Client) {
			return nil, fmt.Errorf("%s: step %d: client %q is not in clients", path, i, s.Client)
		}
		if s.SendRaw != nil && !slices.Equal(v.Encodings, []string{"json"}) {
			return nil, fmt.Errorf("%s: step %d: sendRaw needs encodings [\"json\"]", path, i)
		}
	}
	return &v, nil
}

// encodingNamed maps a vector's encoding name to the codec.
func encodingNamed(name string) (protocol.Encoding, error) {
	switch name {
	case "json":
		return protocol.JSON, nil
	case "protobuf":
		return protocol.Protobuf, nil
	}
	return 0, fmt.Errorf("unknown encoding %q", name)
}

// run is one run of a vector in one encoding.
type run struct {
	addr    string
	tcpAddr string // the raw TCP listener the clients use; "" for WebSocket
	enc     protocol.Encoding
	vars    vars
	clients map[string]*vectorConn
}

// runVector replays v against the server at addr in enc and returns the
// first failure, naming the step and what differed. Its clients speak
// WebSocket, or raw TCP to tcpAddr when that is set.
func runVector(addr, tcpAddr string, v *vector, enc protocol.Encoding) error {
	r := &run{addr: addr, tcpAddr: tcpAddr, enc: enc, vars: vars{}, clients: map[string]*vectorConn{}}
	defer func() {
		for _, c := range r.clients {
			c.closeNow()
			<-c.done
		}
	}()
	for i, s := range v.Steps {
		if err := r.step(s); err != nil {
			what, _ := json.Marshal(s)
			return fmt.Errorf("step %d %s: %w", i, what, err)
		}
	}
	return nil
}

func (r *run) step(s step) error {
	if s.API != "" {
		return r.api(s)
	}
	c, err := r.client(s.Client, s.Connect)
	if err != nil {
		return err
	}
	switch {
	case s.Connect:
		return nil
	case s.Send != nil:
		return r.send(c, s.Send)
	case s.SendBatch != nil:
		return r.sendBatch(c, s.SendBatch)
	case s.SendRaw != nil:
		return c.write(websocket.MessageText, []byte(*s.SendRaw))
	case s.Expect != nil:
		return r.expect(c, s.Expect)
	case s.ExpectNone != nil:
		return c.expectNone(time.Duration(s.ExpectNone.MS) * time.Millisecond)
	case s.ExpectClose != 0:
		return c.expectClose(s.ExpectClose)
	case s.Close:
		return c.close()
	}
	return errors.New("vector error: a step that does nothing")
}

// client returns the named client's connection, opening it at its first
// step, or again for a connect step.
func (r *run) client(name string, reconnect bool) (*vectorConn, error) {
	if name == "" {
		return nil, errors.New("vector error: a step without client or api")
	}
	c := r.clients[name]
	if c != nil && !reconnect {
		return c, nil
	}
	if c != nil {
		c.closeNow()
		<-c.done
	}
	dial := dialVector
	addr := r.addr
	if r.tcpAddr != "" {
		dial, addr = dialVectorTCP, r.tcpAddr
	}
	c, err := dial(addr, r.enc)
	if err != nil {
		return nil, err
	}
	r.clients[name] = c
	return c, nil
}

// encodeCommand substitutes a command's placeholders and encodes it with
// the codec under test.
func (r *run) encodeCommand(buf []byte, raw json.RawMessage) ([]byte, error) {
	pattern, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	v, err := r.vars.substitute(pattern, mintToken)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(v)
	var cmd protocol.Command
	if err := json.Unmarshal(b, &cmd); err != nil {
		return nil, fmt.Errorf("vector error: %s is not a command the codec encodes (sendRaw is for malformed ones): %w", b, err)
	}
	return r.enc.AppendCommand(buf, &cmd)
}

func (r *run) send(c *vectorConn, raw json.RawMessage) error {
	b, err := r.encodeCommand(nil, raw)
	if err != nil {
		return err
	}
	return c.write(c.frameType(), b)
}

// sendBatch sends several commands in one frame (PROTOCOL.md §3.3).
func (r *run) sendBatch(c *vectorConn, raw json.RawMessage) error {
	var cmds []json.RawMessage
	if err := json.Unmarshal(raw, &cmds); err != nil {
		return fmt.Errorf("vector error: sendBatch is not an array: %w", err)
	}
	var frame []byte
	for i, cmd := range cmds {
		if i > 0 {
			frame = append(frame, r.enc.Separator()...)
		}
		var err error
		if frame, err = r.encodeCommand(frame, cmd); err != nil {
			return err
		}
	}
	return c.write(c.frameType(), frame)
}

func (r *run) expect(c *vectorConn, raw json.RawMessage) error {
	pattern, err := decodeJSON(raw)
	if err != nil {
		return err
	}
	p, _ := pattern.(map[string]any)
	msg, err := c.next(expectTimeout, p["type"] == protocol.PushPing)
	if err != nil {
		return err
	}
	actual, err := decodeJSON(msg)
	if err != nil {
		return err
	}
	if err := r.vars.match("$", pattern, actual, true); err != nil {
		return fmt.Errorf("%w\n  message: %s", err, msg)
	}
	return nil
}

// api calls the server API with the fixed key and matches its answer.
func (r *run) api(s step) error {
	body := []byte("{}")
	if s.Params != nil {
		params, err := decodeJSON(s.Params)
		if err != nil {
			return err
		}
		v, err := r.vars.substitute(params, mintToken)
		if err != nil {
			return err
		}
		body, _ = json.Marshal(v)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/api/"+s.API, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "apikey "+conformanceAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	want := s.Status
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return fmt.Errorf("$status: expected HTTP %d, got %d: %s", want, resp.StatusCode, answer)
	}
	if s.Expect == nil {
		return nil
	}
	pattern, err := decodeJSON(s.Expect)
	if err != nil {
		return err
	}
	actual, err := decodeJSON(answer)
	if err != nil {
		return fmt.Errorf("the answer is not JSON: %q", answer)
	}
	if err := r.vars.match("$", pattern, actual, true); err != nil {
		return fmt.Errorf("%w\n  answer: %s", err, answer)
	}
	return nil
}

// vectorConn is one client's WebSocket, or its raw TCP connection. A
// reader goroutine decodes each frame with the codec of its encoding,
// splits batched messages and queues each in the JSON encoding's form; the
// connection's end is the last event.
type vectorConn struct {
	ws     *websocket.Conn
	tcp    net.Conn // instead of ws, for raw TCP
	enc    protocol.Encoding
	events chan event
	done   chan struct{}
}

// event is a server message, or the connection's end (close code; 1006
// when it ended without a close frame).
type event struct {
	msg   []byte
	close int
	err   error
}

func dialVector(addr string, enc protocol.Encoding) (*vectorConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), expectTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Subprotocols: []string{enc.Subprotocol()}})
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != enc.Subprotocol() {
		ws.CloseNow()
		return nil, fmt.Errorf("the server answered subprotocol %q, not %q", ws.Subprotocol(), enc.Subprotocol())
	}
	ws.SetReadLimit(64 << 20)
	c := &vectorConn{ws: ws, enc: enc, events: make(chan event, 1024), done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *vectorConn) read() {
	defer close(c.done)
	defer close(c.events)
	for {
		typ, frame, err := c.ws.Read(context.Background())
		if err != nil {
			code := websocket.CloseStatus(err)
			if code == -1 {
				code = websocket.StatusAbnormalClosure
			}
			c.events <- event{close: int(code)}
			return
		}
		msgs, err := c.decode(typ, frame)
		for _, m := range msgs {
			c.events <- event{msg: m}
		}
		if err != nil {
			c.events <- event{err: err}
		}
	}
}

// decode returns a frame's messages in the JSON encoding's form, decoded
// by the codec of the connection's encoding.
func (c *vectorConn) decode(typ websocket.MessageType, frame []byte) ([][]byte, error) {
	if typ != c.frameType() {
		return nil, fmt.Errorf("a %v frame on a %v connection", typ, c.enc)
	}
	var out [][]byte
	err := c.enc.DecodeServerFrame(frame, func(m *protocol.ServerMessage) error {
		b, err := ht.ServerMessageJSON(m)
		out = append(out, b)
		return err
	})
	if err != nil || c.enc == protocol.Protobuf {
		return out, err
	}
	// JSON: the codec decoded every line; compare the lines themselves,
	// exactly as the server wrote them.
	out = out[:0]
	for _, line := range bytes.Split(frame, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out, nil
}

func (c *vectorConn) frameType() websocket.MessageType {
	if c.enc.Binary() {
		return websocket.MessageBinary
	}
	return websocket.MessageText
}

func (c *vectorConn) write(typ websocket.MessageType, b []byte) error {
	if c.tcp != nil {
		return c.writeTCP(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), expectTimeout)
	defer cancel()
	return c.ws.Write(ctx, typ, b)
}

// close closes the connection normally (1000 on WebSocket).
func (c *vectorConn) close() error {
	if c.tcp != nil {
		return c.tcp.Close()
	}
	return c.ws.Close(websocket.StatusNormalClosure, "")
}

func (c *vectorConn) closeNow() {
	if c.tcp != nil {
		c.tcp.Close()
		return
	}
	c.ws.CloseNow()
}

// next returns the next message, skipping pings unless ping is set.
func (c *vectorConn) next(d time.Duration, ping bool) ([]byte, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-c.events:
			switch {
			case !ok:
				return nil, errors.New("expected a message, but the connection had ended before")
			case e.err != nil:
				return nil, e.err
			case e.close != 0:
				return nil, fmt.Errorf("expected a message, but the server closed the connection with %d", e.close)
			case !ping && isPing(e.msg):
				continue
			}
			return e.msg, nil
		case <-timer.C:
			return nil, fmt.Errorf("%w within %v", errNoMessage, d)
		}
	}
}

// expectNone checks that nothing but pings arrives for d.
func (c *vectorConn) expectNone(d time.Duration) error {
	m, err := c.next(d, false)
	if err == nil {
		return fmt.Errorf("expected no message for %v, got %s", d, m)
	}
	if errors.Is(err, errNoMessage) {
		return nil
	}
	return err
}

// expectClose waits for the server's close frame; messages other than
// pings before it fail the step.
func (c *vectorConn) expectClose(code int) error {
	timer := time.NewTimer(expectTimeout)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-c.events:
			switch {
			case !ok:
				return errors.New("the connection had ended before")
			case e.err != nil:
				return e.err
			case e.close == code:
				return nil
			case e.close != 0:
				return fmt.Errorf("$close: expected close code %d, got %d", code, e.close)
			case isPing(e.msg):
				continue
			case c.tcp != nil && isDisconnect(e.msg):
				// On raw TCP the disconnect push is how the close code
				// travels (PROTOCOL.md §3.4): the end of the stream follows.
				continue
			}
			return fmt.Errorf("expected close %d, got a message first: %s", code, e.msg)
		case <-timer.C:
			return fmt.Errorf("no close within %v", expectTimeout)
		}
	}
}

// errNoMessage is next's error when the wait ran out.
var errNoMessage = errors.New("no message")

// isPing reports whether msg is a ping push.
func isPing(msg []byte) bool {
	var m struct {
		ID   uint32 `json:"id"`
		Type string `json:"type"`
	}
	return json.Unmarshal(msg, &m) == nil && m.ID == 0 && m.Type == protocol.PushPing
}
