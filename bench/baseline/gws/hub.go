package main

import (
	"net/http"
	"sync"

	"github.com/lxzan/gws"

	"github.com/heraldhq/herald/bench/baseline/internal/serve"
)

// hub broadcasts text messages to every connection. It uses gws the way
// Herald does (one reader goroutine per connection, writes from whichever
// goroutine delivers) plus gws's Broadcaster, which frames a message once
// for all connections: the cheapest fan-out the library offers.
type hub struct {
	up *gws.Upgrader

	mu sync.RWMutex
	// conns holds every connection; the value is true for echo ones,
	// which the broadcast skips.
	conns  map[*gws.Conn]bool
	closed bool
	// readers counts the connections' read loops, so Close can wait for
	// them.
	readers sync.WaitGroup
}

func newHub() *hub {
	h := &hub{conns: make(map[*gws.Conn]bool)}
	h.up = gws.NewUpgrader(h, &gws.ServerOption{
		ReadMaxPayloadSize: serve.MaxMessageSize,
		// Herald checks UTF-8 itself; the raw baseline does not check it.
		CheckUtf8Enabled: false,
	})
	return h
}

// ServeHTTP upgrades the request and starts the connection's read loop.
func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) }

// Echo serves connections whose messages come back to their sender.
func (h *hub) Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, true) })
}

// echoKey marks an echo connection in its gws session.
const echoKey = "echo"

func (h *hub) serve(w http.ResponseWriter, r *http.Request, echo bool) {
	socket, err := h.up.Upgrade(w, r)
	if err != nil {
		return // gws has answered the request
	}
	if echo {
		socket.Session().Store(echoKey, true)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = socket.WriteClose(1001, []byte("server shutting down"))
		return
	}
	h.conns[socket] = echo
	h.readers.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.readers.Done()
		socket.ReadLoop()
	}()
}

// Close closes every connection and waits for their read loops to end.
func (h *hub) Close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		_ = c.WriteClose(1001, []byte("server shutting down"))
	}
	h.mu.Unlock()
	h.readers.Wait()
}

// OnOpen implements gws.Event.
func (h *hub) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event.
func (h *hub) OnClose(socket *gws.Conn, _ error) {
	h.mu.Lock()
	delete(h.conns, socket)
	h.mu.Unlock()
}

// OnPing implements gws.Event: answer, as every server must.
func (h *hub) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }

// OnPong implements gws.Event.
func (h *hub) OnPong(*gws.Conn, []byte) {}

// OnMessage echoes a text message on an echo connection, the way Herald's
// echo endpoint does (written from the reader), and otherwise broadcasts
// it to every broadcast connection. The frame is
// built once, during the first Broadcast, so the message's buffer may go
// back to gws's pool when this returns even though the writes are queued.
func (h *hub) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode != gws.OpcodeText {
		return
	}
	if _, echo := socket.Session().Load(echoKey); echo {
		_ = socket.WriteMessage(gws.OpcodeText, msg.Bytes())
		return
	}
	b := gws.NewBroadcaster(gws.OpcodeText, msg.Bytes())
	h.mu.RLock()
	for c, echo := range h.conns {
		if !echo {
			_ = b.Broadcast(c)
		}
	}
	h.mu.RUnlock()
	_ = b.Close()
}
