package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldhq/herald/bench/baseline/internal/serve"
)

// hub broadcasts text messages to every connection. It is the cheapest
// fan-out the library allows: one reader goroutine per connection, and a
// message framed once and written to each connection in turn by the
// goroutine that received it, with no queue, goroutine or deadline per
// delivery. (A real server cannot write in turn: one client that stops
// reading would stall everyone. As a floor of CPU per delivery it is
// exact.)
type hub struct {
	mu sync.RWMutex
	// conns holds every connection; the value is true for echo ones,
	// which the broadcast skips.
	conns  map[*conn]bool
	closed bool
	// readers counts the connections' read loops, so Close can wait for
	// them.
	readers sync.WaitGroup
}

// conn is one connection; mu serializes its writes.
type conn struct {
	net.Conn
	mu sync.Mutex
}

// write writes one whole frame.
func (c *conn) write(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.Conn.Write(frame)
	return err
}

// Write lets the control-frame handler answer pings and closes under mu.
func (c *conn) Write(p []byte) (int, error) {
	if err := c.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newHub() *hub { return &hub{conns: make(map[*conn]bool)} }

// ServeHTTP upgrades the request and starts the connection's read loop.
func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) }

// Echo serves connections whose messages come back to their sender.
func (h *hub) Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, true) })
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request, echo bool) {
	raw, brw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		if raw != nil {
			raw.Close()
		}
		return // the upgrader has answered the request
	}
	c := &conn{Conn: raw}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = c.write(closeFrame(1001, "server shutting down"))
		raw.Close()
		return
	}
	h.conns[c] = echo
	h.readers.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.readers.Done()
		h.readLoop(c, brw.Reader, echo)
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		raw.Close()
	}()
}

// readLoop reads messages until the connection ends.
func (h *hub) readLoop(c *conn, br *bufio.Reader, echo bool) {
	control := wsutil.ControlFrameHandler(c, ws.StateServerSide)
	rd := &wsutil.Reader{
		Source:         br,
		State:          ws.StateServerSide,
		MaxMessageSize: serve.MaxMessageSize,
		OnIntermediate: control,
	}
	for {
		hdr, err := rd.NextFrame()
		if errors.Is(err, wsutil.ErrMessageTooLarge) {
			tooBig(c, br)
			return
		}
		if err != nil {
			return
		}
		if hdr.OpCode.IsControl() {
			if err := control(hdr, rd); err != nil {
				return
			}
			continue
		}
		if hdr.OpCode != ws.OpText {
			if err := rd.Discard(); err != nil {
				return
			}
			continue
		}
		data, err := io.ReadAll(rd)
		if errors.Is(err, wsutil.ErrMessageTooLarge) {
			tooBig(c, br)
			return
		}
		if err != nil {
			return
		}
		frame := ws.MustCompileFrame(ws.NewTextFrame(data))
		if echo {
			_ = c.write(frame)
			continue
		}
		h.broadcast(frame)
	}
}

// tooBig closes a connection whose message is over the limit with 1009.
// Closing with the rest of the message unread would reset the connection
// and lose the close frame: the write side is shut, then input is dropped
// until the peer closes.
func tooBig(c *conn, br *bufio.Reader) {
	_ = c.write(closeFrame(ws.StatusMessageTooBig, "message too big"))
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, br)
	}
}

// broadcast writes frame to every broadcast connection.
func (h *hub) broadcast(frame []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c, echo := range h.conns {
		if !echo {
			_ = c.write(frame)
		}
	}
}

// Close closes every connection and waits for their read loops to end.
func (h *hub) Close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		_ = c.write(closeFrame(1001, "server shutting down"))
		_ = c.Conn.Close() // ends the read loop
	}
	h.mu.Unlock()
	h.readers.Wait()
}

func closeFrame(code ws.StatusCode, reason string) []byte {
	return ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason)))
}
