package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldhq/herald/protocol"
)

// handler is what a scenario does with each received message.
type handler func(c *conn, f fields, recvNs int64)

// conn is one bench client: a WebSocket (wire.go) speaking Herald's
// protocol in its JSON encoding through package protocol, or, raw, bare
// text messages that are the payloads themselves.
type conn struct {
	nc    net.Conn
	id    int
	raw   bool
	onMsg handler
	// wmu serialises writes; wbuf is the frame being written.
	wmu     sync.Mutex
	wbuf    []byte
	nextID  atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]*pendingCall
	done    chan struct{}
	// closeCode is the WebSocket close code (0 for a network error), set
	// before done closes.
	closeCode int
	// trackers are per channel, guarded by mu.
	trackers map[string]*tracker
	// positions are the stream positions of the channels subscribed with
	// subscribeFrom: the subscribe reply's, then the newest offset
	// received; guarded by mu.
	positions map[string]protocol.StreamPosition
	// warm is set once a warm-up message arrived (raw fan-out).
	warm atomic.Bool
	// cmdErrors counts error replies to commands nobody waited for.
	cmdErrors atomic.Uint64
	// errCodes counts those error replies by code, guarded by mu.
	errCodes map[string]int
}

// pendingCall is a command waiting for its reply: the error (nil for a
// result) goes to ch, after a result was decoded into out, if set, and
// then called.
type pendingCall struct {
	ch  chan *protocol.Error
	out protocol.Result
	// then runs in the reader after out was decoded, before any later
	// message is handled.
	then func()
}

// encoding is the protocol encoding the clients speak.
const encoding = protocol.JSON

// connectError says why a client could not connect; Key groups errors in
// the report ("close 4501", "error 101", "dial", "http 503", "timeout").
type connectError struct {
	Key string
	err error
}

func (e *connectError) Error() string { return e.Key + ": " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// dialer opens clients against one target, or the nodes of a cluster:
// client i always connects to the same one (see url).
type dialer struct {
	// ctx is the run's: its end abandons the dials in progress (a
	// reconnecting subscriber's, say), so a stopped run does not wait for
	// their timeouts.
	ctx context.Context
	// compress offers permessage-deflate.
	compress bool
	urls     []string
	raw      bool
	sources  []net.IP
	token    func(i int) (string, error)
	timeout  time.Duration
}

// dial opens client i: the WebSocket, then (Herald) the connect command.
func (d *dialer) dial(i int, onMsg handler) (*conn, error) {
	c := &conn{id: i, raw: d.raw, onMsg: onMsg, pending: map[uint32]*pendingCall{}, done: make(chan struct{}), trackers: map[string]*tracker{}}
	var source net.IP
	if len(d.sources) > 0 {
		source = d.sources[i%len(d.sources)]
	}
	subprotocol := encoding.Subprotocol()
	if d.raw {
		subprotocol = ""
	}
	nc, src, compressed, err := d.dialWebSocket(d.url(i), source, subprotocol)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	go c.readLoop(src, compressed)
	if d.raw {
		return c, nil
	}
	cmd := &protocol.Command{Type: protocol.TypeConnect, Name: "herald-bench"}
	if d.token != nil {
		tok, err := d.token(i)
		if err != nil {
			c.close()
			return nil, &connectError{Key: "token", err: err}
		}
		cmd.Token = tok
	}
	if err := c.call(cmd, d.timeout); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// url is client i's node; the publishers' (ids from publisherID) is the
// first.
func (d *dialer) url(i int) string {
	if i >= publisherID {
		return d.urls[0]
	}
	return d.urls[i%len(d.urls)]
}

// call sends a command with an id and waits for its reply.
func (c *conn) call(cmd *protocol.Command, timeout time.Duration) error {
	return c.callResult(cmd, nil, nil, timeout)
}

// callResult is call that decodes a successful reply's result into out
// and runs then, both in the reader, before it returns.
func (c *conn) callResult(cmd *protocol.Command, out protocol.Result, then func(), timeout time.Duration) error {
	id := c.nextID.Add(1)
	ch := make(chan *protocol.Error, 1)
	c.mu.Lock()
	c.pending[id] = &pendingCall{ch: ch, out: out, then: then}
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.pending, id); c.mu.Unlock() }()
	cmd.ID = id
	t := time.NewTimer(timeout)
	defer t.Stop()
	if err := c.command(cmd); err != nil {
		// A server that refuses a connection after the upgrade (4005)
		// may close it before our first write: its close code, which
		// the reader is about to see, says more than the write error.
		select {
		case <-c.done:
			if c.closeCode != 0 {
				return &connectError{Key: c.closeKey(), err: err}
			}
		case <-t.C:
		}
		return &connectError{Key: "write", err: err}
	}
	select {
	case e := <-ch:
		return replyError(e)
	case <-c.done:
		// The reader hands a reply over before it sees the close that
		// follows it (error 101, then 4501): the reply says more, and
		// select would otherwise pick either at random.
		select {
		case e := <-ch:
			return replyError(e)
		default:
		}
		return &connectError{Key: c.closeKey(), err: errors.New("connection closed")}
	case <-t.C:
		return &connectError{Key: "timeout", err: fmt.Errorf("no reply to %s within %v", cmd.Type, timeout)}
	}
}

// replyError is a reply's error keyed by code, nil for a result.
func replyError(e *protocol.Error) error {
	if e == nil {
		return nil
	}
	return &connectError{Key: errorReplyKey(e), err: e}
}

func errorReplyKey(e *protocol.Error) string { return "error " + strconv.Itoa(int(e.Code)) }

func (c *conn) closeKey() string {
	if c.closeCode == 0 {
		return "network"
	}
	return "close " + strconv.Itoa(c.closeCode)
}

// command writes a command in a frame of its own.
func (c *conn) command(cmd *protocol.Command) error {
	b, err := encoding.AppendCommand(nil, cmd)
	if err != nil {
		return err
	}
	return c.writeFrame(messageOpCode, b)
}

// publish sends a publish command without waiting for the reply (an
// error reply is counted in cmdErrors); raw, it sends data alone.
func (c *conn) publish(channel string, data []byte) error {
	if c.raw {
		return c.writeFrame(ws.OpText, data)
	}
	return c.command(&protocol.Command{ID: c.nextID.Add(1), Type: protocol.TypePublish, Channel: channel, Data: data})
}

// messageOpCode is the frame type of the encoding's messages.
var messageOpCode = func() ws.OpCode {
	if encoding.Binary() {
		return ws.OpBinary
	}
	return ws.OpText
}()

func (c *conn) close() { c.closeWebSocket() }

// onFrame handles one received message: raw, the payload itself; Herald,
// a frame of server messages whose replies it routes, whose pings it
// answers and whose publications' payloads it hands to the scenario.
func (c *conn) onFrame(frame []byte) {
	now := time.Now().UnixNano()
	if c.raw {
		if f, ok := parsePayload(frame); ok {
			c.onMsg(c, f, now)
		}
		return
	}
	// A malformed message ends the frame's decoding; what came before it
	// was handled, and the bench has nothing better to do with the rest.
	_ = encoding.DecodeServerFrame(frame, func(m *protocol.ServerMessage) error {
		switch {
		case m.ID != 0:
			c.reply(m)
		case m.Type == protocol.PushMessage:
			if f, ok := parsePayload(m.Data); ok {
				f.offset, f.channel = m.Offset, m.Channel
				c.onMsg(c, f, now)
			}
		case m.Type == protocol.PushPing:
			c.command(&protocol.Command{Type: protocol.TypePong})
		}
		return nil
	})
}

// reply hands a reply to the call waiting for it, or counts an error
// reply nobody waits for. A subscribe result's recovered publications go
// to the scenario here, in the reader, so that they arrive in offset order
// before the live messages that follow the reply.
func (c *conn) reply(m *protocol.ServerMessage) {
	c.mu.Lock()
	call := c.pending[m.ID]
	c.mu.Unlock()
	if call != nil {
		e := m.Error
		if e == nil && call.out != nil && m.HasResult() {
			if err := m.DecodeResult(call.out); err != nil {
				e = &protocol.Error{Message: err.Error()}
			} else if call.then != nil {
				call.then()
			}
		}
		call.ch <- e
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Error != nil {
		c.cmdErrors.Add(1)
		if c.errCodes == nil {
			c.errCodes = map[string]int{}
		}
		c.errCodes[errorReplyKey(m.Error)]++
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
	tr := c.trackers[f.channel]
	if tr == nil {
		tr = &tracker{}
		c.trackers[f.channel] = tr
	}
	if f.offset > 0 {
		tr.see(f.offset)
		if p, ok := c.positions[f.channel]; ok && f.offset > p.Offset {
			p.Offset = f.offset
			c.positions[f.channel] = p
		}
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

// subscribeFrom subscribes to channel; when the connection holds a position
// on it (see adopt), from there, so that the reply recovers what was
// missed, whose publications go to the scenario like live ones. It reports
// whether the server recovered everything asked for, and how many
// publications the reply carried.
func (c *conn) subscribeFrom(channel string, timeout time.Duration) (complete bool, recovered int, err error) {
	cmd := &protocol.Command{Type: protocol.TypeSubscribe, Channel: channel}
	c.mu.Lock()
	if p, ok := c.positions[channel]; ok && p.Epoch != "" {
		cmd.Since = &p
	}
	c.mu.Unlock()
	var res protocol.SubscribeResult
	deliver := func() {
		now := time.Now().UnixNano()
		for _, p := range res.Publications {
			if f, ok := parsePayload(p.Data); ok {
				f.offset, f.channel = p.Offset, channel
				c.onMsg(c, f, now)
			}
		}
	}
	if err := c.callResult(cmd, &res, deliver, timeout); err != nil {
		return false, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.positions == nil {
		c.positions = map[string]protocol.StreamPosition{}
	}
	// Offset is where the stream stood (or, with more, the last
	// publication the reply carried); deliver may have gone further.
	p := c.positions[channel]
	c.positions[channel] = protocol.StreamPosition{Offset: max(p.Offset, res.Offset), Epoch: res.Epoch}
	return res.Recovered == nil || *res.Recovered, len(res.Publications), nil
}

// adopt carries over what old (closed: its reader is done) received, to
// count loss and duplicates over both and to subscribe from its positions.
// It copies rather than shares, so that counting over old stays safe.
func (c *conn) adopt(old *conn) {
	old.mu.Lock()
	trackers := make(map[string]*tracker, len(old.trackers))
	for ch, tr := range old.trackers {
		cp := *tr
		trackers[ch] = &cp
	}
	positions := maps.Clone(old.positions)
	old.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trackers, c.positions = trackers, positions
}
