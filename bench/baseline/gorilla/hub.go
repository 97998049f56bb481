package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/bench/baseline/internal/serve"
)

// sendBuffer is how many messages a connection may have waiting before the
// broadcast loop drops it as too slow, as in gorilla's chat example.
const sendBuffer = 256

// writeWait bounds one write, so a stalled peer frees its writer.
const writeWait = 10 * time.Second

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	// No origin check: the baseline serves load tools, not browsers.
	CheckOrigin: func(*http.Request) bool { return true },
}

// conn is one client: its socket and the queue its writer drains.
type conn struct {
	ws   *websocket.Conn
	send chan []byte
}

// hub owns the set of connections; only its loop touches it, which is why
// joining, leaving and broadcasting all go through channels.
type hub struct {
	register   chan *conn
	unregister chan *conn
	broadcast  chan []byte
	done       chan struct{}
	// loop and conns count the broadcast loop and the connections'
	// goroutines, so Close can wait for all of them.
	loop  sync.WaitGroup
	conns sync.WaitGroup
	echo  echoServer
}

func newHub() *hub {
	h := &hub{
		register:   make(chan *conn),
		unregister: make(chan *conn),
		broadcast:  make(chan []byte, sendBuffer),
		done:       make(chan struct{}),
	}
	h.echo.h = h
	h.loop.Add(1)
	go h.run()
	return h
}

// run is the broadcast loop. Unlike the chat example's, it ends: on done it
// closes every connection.
func (h *hub) run() {
	defer h.loop.Done()
	clients := make(map[*conn]struct{})
	drop := func(c *conn) {
		if _, ok := clients[c]; ok {
			delete(clients, c)
			close(c.send)
		}
	}
	for {
		select {
		case c := <-h.register:
			clients[c] = struct{}{}
		case c := <-h.unregister:
			drop(c)
		case msg := <-h.broadcast:
			for c := range clients {
				select {
				case c.send <- msg:
				default:
					// Too slow: its writer closes the socket.
					drop(c)
				}
			}
		case <-h.done:
			for c := range clients {
				drop(c)
			}
			return
		}
	}
}

// ServeHTTP upgrades the request and starts the connection's reader and
// writer.
func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the request
	}
	ws.SetReadLimit(serve.MaxMessageSize)
	c := &conn{ws: ws, send: make(chan []byte, sendBuffer)}
	// Counted before registering, so that Close cannot stop waiting
	// between the two.
	h.conns.Add(2)
	select {
	case h.register <- c:
	case <-h.done:
		h.conns.Add(-2)
		closeWith(ws, websocket.CloseGoingAway, "server shutting down")
		ws.Close()
		return
	}
	go h.write(c)
	go h.read(c)
}

// read forwards the connection's text messages to the broadcast loop until
// the connection fails, then unregisters it.
func (h *hub) read(c *conn) {
	defer h.conns.Done()
	defer func() {
		select {
		case h.unregister <- c:
		case <-h.done:
		}
	}()
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		select {
		case h.broadcast <- msg:
		case <-h.done:
			return
		}
	}
}

// write sends what the broadcast loop queues, one frame per message, and
// closes the socket when the loop closes the queue.
func (h *hub) write(c *conn) {
	defer h.conns.Done()
	defer c.ws.Close()
	for msg := range c.send {
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
		if err := c.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			// Keep draining so the loop never blocks on this connection;
			// the reader sees the closed socket and unregisters it.
			c.ws.Close()
		}
	}
	select {
	case <-h.done:
		closeWith(c.ws, websocket.CloseGoingAway, "server shutting down")
	default:
		// Dropped by the loop: too slow, or already gone.
		closeWith(c.ws, websocket.ClosePolicyViolation, "too slow")
	}
}

// closeWith sends a close frame; the caller closes the socket.
func closeWith(ws *websocket.Conn, code int, reason string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(writeWait))
}

// Close stops the broadcast loop, which closes every connection, and waits
// for every goroutine to end.
func (h *hub) Close() {
	h.echo.mu.Lock()
	close(h.done)
	h.echo.mu.Unlock()
	h.echo.close()
	h.loop.Wait()
	h.conns.Wait()
}
