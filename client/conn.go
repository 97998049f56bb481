package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// conn is one connection's worth of client state.
type conn struct {
	ws  wire
	enc protocol.Encoding
	gen uint64

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]*pendingCall
	dead    chan struct{} // closed when the connection has ended

	// Set by the reader.
	pingInterval time.Duration
	disconnect   *protocol.Disconnect
	// backlog holds what followed the connect reply in its frame; serve
	// handles it before reading on.
	backlog []*protocol.ServerMessage
}

// pendingCall waits for one reply. onReply, when set, runs on the reader
// goroutine before any later message is handled, which keeps a subscribe
// result ahead of the channel's live messages.
type pendingCall struct {
	done    chan struct{}
	reply   *protocol.ServerMessage
	err     error
	onReply func(reply *protocol.ServerMessage, err error)
}

var errNoConnectReply = errors.New("herald: connection ended before the connect reply")

// dial opens a connection and completes connect. A refusal with a close
// code comes back as *CloseError.
func (c *Client) dial() (*conn, *protocol.ConnectResult, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
	defer cancel()
	token, err := c.token(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("herald: token: %w", err)
	}
	ws, err := dialWire(ctx, c.url, c.opts.Encoding, &c.opts, c.httpc)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	cn := &conn{ws: ws, enc: c.opts.Encoding, gen: gen, pending: make(map[uint32]*pendingCall), dead: make(chan struct{})}
	cmd := c.connectCommand(token, gen)
	cmd.ID = 1
	cn.nextID = 1
	if err := cn.write(ctx, cmd); err != nil {
		ws.closeNow()
		return nil, nil, err
	}
	// Nothing precedes the connect reply but, on refusal, a disconnect push.
	for {
		msgs, err := cn.read(ctx)
		if err != nil {
			ws.closeNow()
			if cn.disconnect != nil {
				return nil, nil, &CloseError{Code: cn.disconnect.Code, Reason: cn.disconnect.Reason}
			}
			if code, reason, ok := ws.closeCode(err); ok {
				return nil, nil, &CloseError{Code: code, Reason: reason}
			}
			return nil, nil, fmt.Errorf("%w: %v", errNoConnectReply, err)
		}
		for i, m := range msgs {
			switch {
			case m.ID == 1 && m.Error != nil:
				// The close that follows carries the code; keep reading.
				continue
			case m.ID == 1:
				var res protocol.ConnectResult
				if err := m.DecodeResult(&res); err != nil {
					ws.closeNow()
					return nil, nil, err
				}
				cn.pingInterval = time.Duration(res.Ping) * time.Second
				if hw, ok := ws.(*httpWire); ok {
					hw.setSession(res.Session, token)
				}
				// The server batches: live pushes may share the reply's frame.
				cn.backlog = msgs[i+1:]
				return cn, &res, nil
			case m.Type == protocol.PushDisconnect:
				cn.disconnect = &protocol.Disconnect{Code: protocol.CloseCode(m.Code), Reason: m.Reason, Reconnect: m.Reconnect}
			}
		}
	}
}

// read reads one frame and decodes its messages.
func (cn *conn) read(ctx context.Context) ([]*protocol.ServerMessage, error) {
	data, err := cn.ws.read(ctx)
	if err != nil {
		return nil, err
	}
	var out []*protocol.ServerMessage
	err = cn.enc.DecodeServerFrame(data, func(m *protocol.ServerMessage) error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("herald: bad message from server: %w", err)
	}
	return out, nil
}

func (cn *conn) write(ctx context.Context, cmd *protocol.Command) error {
	b, err := cn.enc.AppendCommand(nil, cmd)
	if err != nil {
		return err
	}
	return cn.ws.write(ctx, b)
}

// serve reads until the connection ends and returns the close code the
// server gave (0 for none). A watchdog closes a connection that misses its
// heartbeat.
func (cn *conn) serve(c *Client) (protocol.CloseCode, string) {
	defer close(cn.dead)
	watchdogDelay := cn.pingInterval + c.opts.PingMargin
	watchdog := time.AfterFunc(watchdogDelay, func() { cn.ws.closeNow() })
	defer watchdog.Stop()
	stop := context.AfterFunc(c.ctx, cn.ws.close)
	defer stop()
	for {
		msgs, err := cn.backlog, error(nil)
		cn.backlog = nil
		if msgs == nil {
			msgs, err = cn.read(context.Background())
		}
		if err != nil {
			cn.ws.closeNow()
			if cn.disconnect != nil {
				return cn.disconnect.Code, cn.disconnect.Reason
			}
			if code, reason, ok := cn.ws.closeCode(err); ok {
				return code, reason
			}
			return 0, err.Error()
		}
		for _, m := range msgs {
			if m.ID != 0 {
				cn.resolve(m)
				continue
			}
			switch m.Type {
			case protocol.PushPing:
				watchdog.Reset(watchdogDelay)
				if _, ok := cn.ws.(*httpWire); ok {
					// HTTP streaming needs no pong: it would cost a
					// request per ping.
					continue
				}
				ctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
				_ = cn.write(ctx, &protocol.Command{Type: protocol.TypePong})
				cancel()
			case protocol.PushDisconnect:
				cn.disconnect = &protocol.Disconnect{Code: protocol.CloseCode(m.Code), Reason: m.Reason, Reconnect: m.Reconnect}
			case protocol.PushRefreshNeeded:
				c.wg.Add(1)
				go c.refresh(cn)
			case protocol.PushDirect:
				if !c.deliverDirect(&protocol.Publication{Offset: m.Offset, Data: m.Data, Time: m.Time}, m.From) {
					// A gap in the inbox: only a connect recovers an
					// inbox, so connect again at once.
					cn.ws.closeNow()
				}
			default:
				if s := c.subscription(m.Channel); s != nil {
					s.handlePush(m, cn)
				}
			}
		}
	}
}

// call sends cmd with a new id and waits for its reply. onReply, when set,
// runs on the reader goroutine as the reply arrives.
func (cn *conn) call(ctx context.Context, cmd *protocol.Command, onReply func(*protocol.ServerMessage, error)) (*protocol.ServerMessage, error) {
	p := &pendingCall{done: make(chan struct{}), onReply: onReply}
	cn.mu.Lock()
	select {
	case <-cn.dead:
		cn.mu.Unlock()
		return nil, ErrDisconnected
	default:
	}
	cn.nextID++
	if cn.nextID == 0 {
		cn.nextID = 1
	}
	id := cn.nextID
	cn.pending[id] = p
	cn.mu.Unlock()
	c := *cmd
	c.ID = id
	if err := cn.write(ctx, &c); err != nil {
		cn.drop(id)
		return nil, err
	}
	select {
	case <-p.done:
		return p.reply, p.err
	case <-ctx.Done():
		cn.drop(id)
		return nil, ctx.Err()
	}
}

func (cn *conn) drop(id uint32) {
	cn.mu.Lock()
	delete(cn.pending, id)
	cn.mu.Unlock()
}

// resolve hands a reply to its waiting call.
func (cn *conn) resolve(m *protocol.ServerMessage) {
	cn.mu.Lock()
	p := cn.pending[m.ID]
	delete(cn.pending, m.ID)
	cn.mu.Unlock()
	if p == nil {
		return // its caller gave up
	}
	p.reply = m
	if m.Error != nil {
		p.err = &Error{Code: m.Error.Code, Message: m.Error.Message, temp: m.Error.Temporary}
	}
	if p.onReply != nil {
		p.onReply(p.reply, p.err)
	}
	close(p.done)
}

// failPending fails every call still waiting on this connection.
func (cn *conn) failPending() {
	cn.mu.Lock()
	pending := cn.pending
	cn.pending = map[uint32]*pendingCall{}
	cn.mu.Unlock()
	for _, p := range pending {
		p.err = ErrDisconnected
		if p.onReply != nil {
			p.onReply(nil, ErrDisconnected)
		}
		close(p.done)
	}
}

// refresh answers refresh_needed with a fresh token.
func (c *Client) refresh(cn *conn) {
	defer c.wg.Done()
	if c.opts.TokenFunc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
	defer cancel()
	token, err := c.opts.TokenFunc(ctx)
	if err != nil {
		return // the server closes with 4003 at expiry; reconnect fetches again
	}
	if hw, ok := cn.ws.(*httpWire); ok {
		hw.setToken(token) // the command POSTs' Bearer, from this refresh on
	}
	_, _ = cn.call(ctx, &protocol.Command{Type: protocol.TypeRefresh, Token: token}, nil)
}
