package server

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lxzan/gws"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// closeTimeout is how long a connection waits for the peer's close frame
// after sending its own.
const closeTimeout = 5 * time.Second

// wsConn adapts a gws connection to hub.Transport.
type wsConn struct {
	socket       *gws.Conn
	raw          *halfCloseConn
	enc          protocol.Encoding
	writeTimeout time.Duration
	client       *hub.Client // nil when the connection was refused after upgrade
	closed       atomic.Bool // a close frame was sent or received
	writeFailed  atomic.Bool // the peer stopped reading; no close handshake
	// writeDeadline is the deadline last set on the socket, kept by the
	// writer (WriteFrame is called from one goroutine at a time).
	writeDeadline time.Time
}

var _ hub.Transport = (*wsConn)(nil)

// opcode is the frame type of the connection's encoding.
func (c *wsConn) opcode() gws.Opcode {
	if c.enc.Binary() {
		return gws.OpcodeBinary
	}
	return gws.OpcodeText
}

// WriteFrame writes parts as one data frame, text or binary as the
// connection's encoding asks.
// The write deadline bounds how long a peer that stops reading can hold its
// writer; past it the connection is dropped. Moving a socket's deadline
// costs a runtime timer update, a measurable share of a fan-out's CPU, so
// it moves only when less than half of writeTimeout is left: every write
// still gets between half and all of it.
func (c *wsConn) WriteFrame(parts [][]byte) error {
	if now := time.Now(); c.writeDeadline.Sub(now) < c.writeTimeout/2 {
		c.writeDeadline = now.Add(c.writeTimeout)
		_ = c.socket.SetWriteDeadline(c.writeDeadline)
	}
	var err error
	if len(parts) == 1 {
		err = c.socket.WriteMessage(c.opcode(), parts[0])
	} else {
		err = c.socket.Writev(c.opcode(), parts...)
	}
	if errors.Is(err, gws.ErrConnClosed) && !c.closed.Load() {
		// gws closed the socket itself: the peer's close frame (or a
		// read error) ended the connection, and OnClose reports its code.
		return hub.ErrTransportClosed
	}
	if err != nil {
		c.writeFailed.Store(true)
	}
	return err
}

// Close sends a close frame; the reader then waits for the peer's. After a
// failed write there is no point: the socket is dropped at once.
func (c *wsConn) Close(code protocol.CloseCode, reason string) {
	c.closed.Store(true)
	if c.writeFailed.Load() {
		c.raw.closeNow()
		return
	}
	_ = c.socket.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	_ = c.socket.WriteClose(uint16(code), []byte(reason))
}

// halfCloseConn makes the WebSocket library's Close a half-close: after the
// close frame, the write side is shut (FIN) and the read side stays open
// until the peer's close frame arrives or closeTimeout passes. Closing at
// once would reset connections whose peer still had data in flight, and a
// reset can destroy the last messages before the peer reads them.
type halfCloseConn struct {
	net.Conn
	once sync.Once
}

type closeWriter interface{ CloseWrite() error }

// Close shuts the write side and arms the read deadline.
func (c *halfCloseConn) Close() error {
	c.once.Do(func() {
		if cw, ok := c.Conn.(closeWriter); ok {
			_ = cw.CloseWrite()
			_ = c.Conn.SetReadDeadline(time.Now().Add(closeTimeout))
			return
		}
		_ = c.Conn.Close()
	})
	return nil
}

// closeNow closes the socket for good.
func (c *halfCloseConn) closeNow() {
	c.once.Do(func() {})
	_ = c.Conn.Close()
}

// session is the per-connection storage gws asks for; we only ever store the
// wsConn, so one field replaces gws's default map.
type session struct{ conn *wsConn }

func (s *session) Len() int { return 1 }
func (s *session) Load(string) (any, bool) {
	return s.conn, s.conn != nil
}
func (s *session) Delete(string)                {}
func (s *session) Store(_ string, v any)        { s.conn, _ = v.(*wsConn) }
func (s *session) Range(func(string, any) bool) {}

func connOf(socket *gws.Conn) *wsConn {
	return socket.Session().(*session).conn
}

// clientEvents routes gws events of client connections to the hub.
type clientEvents struct {
	s *Server
}

func (e *clientEvents) OnOpen(*gws.Conn) {}

func (e *clientEvents) OnClose(socket *gws.Conn, err error) {
	c := connOf(socket)
	c.raw.closeNow()
	if c.client != nil {
		c.client.PeerClosed(peerCloseCode(err))
		c.client.Closed()
	}
}

// OnPing answers RFC 6455 pings; gws leaves that to the handler.
func (e *clientEvents) OnPing(socket *gws.Conn, payload []byte) {
	_ = socket.WritePong(payload)
}

func (e *clientEvents) OnPong(*gws.Conn, []byte) {}

func (e *clientEvents) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(socket)
	if c.client == nil || c.closed.Load() {
		return
	}
	if msg.Opcode != c.opcode() {
		reason := "binary frames need the protobuf subprotocol"
		if c.enc.Binary() {
			reason = "text frames need the JSON subprotocol"
		}
		c.client.Disconnect(protocol.NewDisconnect(protocol.CloseUnsupportedData, reason))
		return
	}
	data := msg.Bytes()
	// gws's own check answers invalid UTF-8 with 1003; the protocol says 1007.
	if msg.Opcode == gws.OpcodeText && !utf8.Valid(data) {
		c.closed.Store(true)
		c.client.Disconnect(protocol.NewDisconnect(protocol.CloseInvalidPayload, "invalid UTF-8"))
		return
	}
	c.client.HandleFrame(data)
}

// echoEvents serves the diagnostic echo endpoint: every message goes back
// unchanged.
type echoEvents struct{ clientEvents }

func (e *echoEvents) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode == gws.OpcodeText && !utf8.Valid(msg.Bytes()) {
		_ = socket.WriteClose(uint16(protocol.CloseInvalidPayload), []byte("invalid UTF-8"))
		return
	}
	_ = socket.SetWriteDeadline(time.Now().Add(e.s.cfg.WriteTimeout))
	_ = socket.WriteMessage(msg.Opcode, msg.Bytes())
}
