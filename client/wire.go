package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/protocol"
)

// maxServerMessage bounds what the client reads as one message from the
// server (a long history or recovery reply).
const maxServerMessage = 64 << 20

// wire is one connection's framing: WebSocket messages (ws://, wss://),
// the raw TCP stream (tcp://, tls://) or HTTP streaming with command POSTs
// (http://, https://). The protocol above it is the same.
type wire interface {
	// read returns the next frame of server messages.
	read(ctx context.Context) ([]byte, error)
	// write sends one encoded command.
	write(ctx context.Context, b []byte) error
	// close ends the connection politely, closeNow at once.
	close()
	closeNow()
	// closeCode returns the close code and reason a failed read carries,
	// when the transport has close codes of its own (WebSocket).
	closeCode(err error) (protocol.CloseCode, string, bool)
}

// dialWire opens the connection rawURL names in enc; hc carries the
// HTTP-streaming transport's requests. An http(s) connection's stream opens
// with its first write, the connect command.
func dialWire(ctx context.Context, rawURL string, enc protocol.Encoding, opts *Options, hc *http.Client) (wire, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("herald: url: %w", err)
	}
	switch u.Scheme {
	case "tcp", "tls":
		return dialTCP(ctx, u, enc, opts)
	case "http", "https":
		return dialHTTP(u, enc, opts, hc), nil
	}
	ws, _, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{
		Subprotocols: []string{enc.Subprotocol()},
		HTTPHeader:   opts.Header,
	})
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != enc.Subprotocol() && enc != protocol.JSON {
		// A server without Protobuf would answer in JSON; better to say so
		// than to misread every frame.
		ws.CloseNow()
		return nil, fmt.Errorf("herald: server does not speak %s", enc.Subprotocol())
	}
	ws.SetReadLimit(maxServerMessage)
	return &wsWire{ws: ws, enc: enc}, nil
}

// wsWire is a WebSocket connection.
type wsWire struct {
	ws  *websocket.Conn
	enc protocol.Encoding
}

func (w *wsWire) read(ctx context.Context) ([]byte, error) {
	_, data, err := w.ws.Read(ctx)
	return data, err
}

func (w *wsWire) write(ctx context.Context, b []byte) error {
	typ := websocket.MessageText
	if w.enc.Binary() {
		typ = websocket.MessageBinary
	}
	return w.ws.Write(ctx, typ, b)
}

func (w *wsWire) close()    { w.ws.Close(websocket.StatusNormalClosure, "client closed") }
func (w *wsWire) closeNow() { w.ws.CloseNow() }

func (w *wsWire) closeCode(err error) (protocol.CloseCode, string, bool) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return protocol.CloseCode(ce.Code), ce.Reason, true
	}
	return 0, "", false
}

// tcpWire is a raw TCP connection, plain or TLS: the preamble names the
// encoding, then JSON messages travel one per line and Protobuf messages
// with a varint length prefix each. The server's close codes come in its
// disconnect push.
type tcpWire struct {
	conn net.Conn
	br   *bufio.Reader
	enc  protocol.Encoding
	wmu  sync.Mutex // write serializes the caller's commands and pongs
}

// dialTCP dials a tcp:// or tls:// URL and sends the preamble.
func dialTCP(ctx context.Context, u *url.URL, enc protocol.Encoding, opts *Options) (wire, error) {
	if u.Port() == "" {
		return nil, fmt.Errorf("herald: %s URL without a port: %s", u.Scheme, u.Redacted())
	}
	var d net.Dialer
	var conn net.Conn
	var err error
	if u.Scheme == "tls" {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		conn, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", u.Host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return nil, err
	}
	w := &tcpWire{conn: conn, br: bufio.NewReader(conn), enc: enc}
	if err := w.writeRaw(ctx, []byte(enc.Subprotocol()+"\n")); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

// deadline is ctx's deadline, or none.
func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func (w *tcpWire) read(ctx context.Context) ([]byte, error) {
	_ = w.conn.SetReadDeadline(deadline(ctx))
	return readFrame(w.br, w.enc)
}

// readFrame reads one message of the raw TCP framing, which HTTP streaming
// shares: a JSON line (without its newline), or a Protobuf message with its
// varint length prefix.
func readFrame(br *bufio.Reader, enc protocol.Encoding) ([]byte, error) {
	if !enc.Binary() {
		var line []byte
		for {
			chunk, err := br.ReadSlice('\n')
			if len(line)+len(chunk) > maxServerMessage {
				return nil, fmt.Errorf("herald: message from server larger than %d bytes", maxServerMessage)
			}
			line = append(line, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return line[:len(line)-1], nil
		}
	}
	size, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if size > maxServerMessage {
		return nil, fmt.Errorf("herald: message from server larger than %d bytes", maxServerMessage)
	}
	frame := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+int(size)), size)
	n := len(frame)
	frame = frame[:n+int(size)]
	if _, err := io.ReadFull(br, frame[n:]); err != nil {
		return nil, err
	}
	return frame, nil
}

func (w *tcpWire) write(ctx context.Context, b []byte) error {
	if !w.enc.Binary() {
		b = append(b, '\n')
	}
	return w.writeRaw(ctx, b)
}

func (w *tcpWire) writeRaw(ctx context.Context, b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.conn.SetWriteDeadline(deadline(ctx))
	_, err := w.conn.Write(b)
	return err
}

func (w *tcpWire) close()    { w.conn.Close() }
func (w *tcpWire) closeNow() { w.conn.Close() }

func (w *tcpWire) closeCode(error) (protocol.CloseCode, string, bool) { return 0, "", false }
