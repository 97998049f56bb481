package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// The clients use gws rather than coder/websocket: gws dials with its own
// small handshake (no net/http transport per connection), runs one
// goroutine per connection that calls back into our handler, and reads
// into a pooled buffer, so an idle connection costs a goroutine and a 4 KiB
// read buffer. coder/websocket needs a goroutine blocked in Read plus its
// own bufio reader and writer and the net/http client machinery.

// handler is what a scenario does with each received message.
type handler func(c *conn, f fields, recvNs int64)

// conn is one bench client.
type conn struct {
	ws      *gws.Conn
	id      int
	raw     bool
	onMsg   handler
	nextID  atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]chan reply
	done    chan struct{}
	// closeCode is the WebSocket close code (0 for a network error).
	closeCode int
	// trackers are per channel, guarded by mu.
	trackers map[string]*tracker
	// warm is set once a warm-up message arrived (raw fan-out).
	warm atomic.Bool
	// cmdErrors counts error replies to commands nobody waited for.
	cmdErrors atomic.Uint64
	// errCodes counts those error replies by code, guarded by mu.
	errCodes map[string]int
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// connectError says why a client could not connect; Key groups errors in
// the report ("close 4501", "error 101", "dial", "http 503", "timeout").
type connectError struct {
	Key string
	err error
}

func (e *connectError) Error() string { return e.Key + ": " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// dialer opens clients against one target.
type dialer struct {
	url     string
	raw     bool
	sources []net.IP
	token   func(i int) (string, error)
	timeout time.Duration
}

// dial opens client i: the WebSocket, then (Herald) the connect command.
func (d *dialer) dial(i int, onMsg handler) (*conn, error) {
	c := &conn{id: i, raw: d.raw, onMsg: onMsg, pending: map[uint32]chan reply{}, done: make(chan struct{}), trackers: map[string]*tracker{}}
	nd := &net.Dialer{Timeout: d.timeout}
	if len(d.sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.sources[i%len(d.sources)]}
	}
	hdr := http.Header{}
	if !d.raw {
		hdr.Set("Sec-WebSocket-Protocol", "herald.v1.json")
	}
	ws, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:               d.url,
		RequestHeader:      hdr,
		HandshakeTimeout:   d.timeout,
		ReadMaxPayloadSize: 16 << 20,
		NewDialer:          func() (gws.Dialer, error) { return nd, nil },
	})
	if err != nil {
		key := "dial"
		if resp != nil {
			key = "http " + strconv.Itoa(resp.StatusCode)
		}
		return nil, &connectError{Key: key, err: err}
	}
	c.ws = ws
	go ws.ReadLoop()
	if d.raw {
		return c, nil
	}
	cmd := map[string]any{"type": "connect", "name": "herald-bench"}
	if d.token != nil {
		tok, err := d.token(i)
		if err != nil {
			c.close()
			return nil, &connectError{Key: "token", err: err}
		}
		cmd["token"] = tok
	}
	if _, err := c.call(cmd, d.timeout); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// call sends a command with an id and waits for its reply.
func (c *conn) call(cmd map[string]any, timeout time.Duration) (json.RawMessage, error) {
	id := c.nextID.Add(1)
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.pending, id); c.mu.Unlock() }()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	t := time.NewTimer(timeout)
	defer t.Stop()
	if err := c.ws.WriteMessage(gws.OpcodeText, b); err != nil {
		// A server that refuses a connection after the upgrade (4005)
		// may close it before our first write: its close code, which
		// the reader is about to see, says more than the write error.
		select {
		case <-c.done:
			if c.closeCode != 0 {
				return nil, &connectError{Key: c.closeKey(), err: err}
			}
		case <-t.C:
		}
		return nil, &connectError{Key: "write", err: err}
	}
	select {
	case r := <-ch:
		return r.result()
	case <-c.done:
		// The reader hands a reply over before it sees the close that
		// follows it (error 101, then 4501): the reply says more, and
		// select would otherwise pick either at random.
		select {
		case r := <-ch:
			return r.result()
		default:
		}
		return nil, &connectError{Key: c.closeKey(), err: errors.New("connection closed")}
	case <-t.C:
		return nil, &connectError{Key: "timeout", err: fmt.Errorf("no reply to %v within %v", cmd["type"], timeout)}
	}
}

// result is the reply's result, or its error keyed by code.
func (r reply) result() (json.RawMessage, error) {
	if r.Error != nil {
		return nil, &connectError{Key: "error " + strconv.Itoa(r.Error.Code), err: errors.New(r.Error.Message)}
	}
	return r.Result, nil
}

func (c *conn) closeKey() string {
	if c.closeCode == 0 {
		return "network"
	}
	return "close " + strconv.Itoa(c.closeCode)
}

// send writes a command without waiting for the reply (error replies
// are counted in cmdErrors).
func (c *conn) send(b []byte) error { return c.ws.WriteMessage(gws.OpcodeText, b) }

func (c *conn) close() {
	if c.ws != nil {
		c.ws.WriteClose(1000, nil)
		c.ws.NetConn().Close()
	}
}

// OnOpen implements gws.Event.
func (c *conn) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event.
func (c *conn) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		c.closeCode = int(ce.Code)
	}
	close(c.done)
}

// OnPing implements gws.Event.
func (c *conn) OnPing(ws *gws.Conn, payload []byte) { ws.WritePong(payload) }

// OnPong implements gws.Event.
func (c *conn) OnPong(*gws.Conn, []byte) {}

var (
	typeMessage = []byte(`"type":"message"`)
	typePing    = []byte(`"type":"ping"`)
	pong        = []byte(`{"type":"pong"}`)
)

// OnMessage implements gws.Event: split batched frames, answer pings,
// route replies, and hand timestamped payloads to the scenario.
func (c *conn) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	now := time.Now().UnixNano()
	data := m.Bytes()
	if c.raw {
		if f, ok := parsePayload(data); ok {
			c.onMsg(c, f, now)
		}
		return
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		switch {
		case bytes.HasPrefix(line, []byte(`{"id"`)):
			c.reply(line)
		case bytes.Contains(line, typeMessage):
			f, ok := parsePayload(line)
			if !ok {
				continue
			}
			f.offset, f.hasOffset = scanInt(line, `"offset"`)
			f.channel = scanString(line, `"channel"`)
			c.onMsg(c, f, now)
		case bytes.Contains(line, typePing):
			ws.WriteMessage(gws.OpcodeText, pong)
		}
	}
}

func (c *conn) reply(line []byte) {
	var r struct {
		ID uint32 `json:"id"`
		reply
	}
	if json.Unmarshal(line, &r) != nil {
		return
	}
	c.mu.Lock()
	ch := c.pending[r.ID]
	c.mu.Unlock()
	if ch != nil {
		ch <- r.reply
	} else if r.Error != nil {
		c.cmdErrors.Add(1)
		c.mu.Lock()
		if c.errCodes == nil {
			c.errCodes = map[string]int{}
		}
		c.errCodes["error "+strconv.Itoa(r.Error.Code)]++
		c.mu.Unlock()
	}
}

// errorCodes are the counts of error replies nobody waited for, by code.
func (c *conn) errorCodes() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.errCodes)
}

// track records a delivery for loss and duplicate counting; position is
// the offset when the channel has history and the sequence otherwise.
func (c *conn) track(f fields) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := string(f.channel)
	tr := c.trackers[key]
	if tr == nil {
		tr = &tracker{}
		c.trackers[key] = tr
	}
	if f.hasOffset && f.offset > 0 {
		tr.see(f.offset)
	} else {
		tr.see(f.seq)
	}
}

// counts sums the trackers: distinct and duplicate deliveries.
func (c *conn) counts() (unique, dups uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tr := range c.trackers {
		unique += tr.unique
		dups += tr.dups
	}
	return unique, dups
}
