package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/bench/baseline/internal/serve"
)

// echoServer serves connections whose text messages go back to their
// sender: one goroutine per connection reads and writes, as gorilla's echo
// example does.
type echoServer struct {
	h *hub

	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
}

// Echo implements serve.Hub.
func (h *hub) Echo() http.Handler { return &h.echo }

// ServeHTTP upgrades the request and echoes until the connection fails or
// the hub closes.
func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(serve.MaxMessageSize)
	e.mu.Lock()
	select {
	case <-e.h.done:
		e.mu.Unlock()
		closeWith(ws, websocket.CloseGoingAway, "server shutting down")
		ws.Close()
		return
	default:
	}
	if e.conns == nil {
		e.conns = make(map[*websocket.Conn]struct{})
	}
	e.conns[ws] = struct{}{}
	e.h.conns.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.h.conns.Done()
		defer func() {
			e.mu.Lock()
			delete(e.conns, ws)
			e.mu.Unlock()
			ws.Close()
		}()
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if typ != websocket.TextMessage {
				continue
			}
			_ = ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		}
	}()
}

// close sends every echo connection a close frame; their goroutines end
// when the peers answer, or a second later.
func (e *echoServer) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ws := range e.conns {
		closeWith(ws, websocket.CloseGoingAway, "server shutting down")
		_ = ws.SetReadDeadline(time.Now().Add(time.Second))
	}
}
