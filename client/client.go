package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// State is the client's connection state.
type State int

// States, in the order a connection goes through them.
const (
	StateDisconnected State = iota // not connected; a reconnect is scheduled
	StateConnecting                // dialing and sending connect
	StateConnected                 // connect succeeded
	StateClosed                    // closed for good: Close, or a terminal close code
)

func (s State) String() string {
	return [...]string{"disconnected", "connecting", "connected", "closed"}[s]
}

// StateChange is passed to Options.OnState.
type StateChange struct {
	State State
	// Code and Reason say why the last connection ended, for Disconnected
	// and Closed; Code is 0 when it ended without a close code (a network
	// error, a missed heartbeat, a failed dial).
	Code   protocol.CloseCode
	Reason string
	// Err is the error behind a failed dial or connect, if any.
	Err error
}

// Direct is a direct message from another user or the server.
type Direct struct {
	// From is the sender; empty for the server API.
	From protocol.ClientInfo
	// Data is the payload as it was sent: a JSON value, or any bytes a
	// Protobuf client or the API's b64data sent (JSON connections receive
	// those base64-encoded; this is the decoded form).
	Data   []byte
	Offset uint64
	Time   time.Time
}

// RecoveryLost reports that missed publications could not all be recovered
// (history trimmed or epoch changed): the application should reload state.
type RecoveryLost struct {
	// Channel is "" for the user's inbox.
	Channel string
	// Since is where the client asked to resume; Position is the stream now.
	Since, Position protocol.StreamPosition
}

// Options configures a Client. The zero value connects anonymously with the
// defaults given in each field's comment.
type Options struct {
	// Token is the connection token (JWT). Ignored when TokenFunc is set.
	Token string
	// TokenFunc returns a fresh token; it is called before every connect
	// (so a reconnect after 4003 has a new token) and on refresh_needed.
	TokenFunc func(ctx context.Context) (string, error)
	// Name and Version identify the application to the server.
	Name, Version string
	// Encoding is the wire encoding: protocol.JSON (the default) or
	// protocol.Protobuf, which is smaller and faster to decode and lets
	// Publish and Send carry any bytes, not only JSON.
	Encoding protocol.Encoding
	// Backoff is the reconnect policy.
	Backoff Backoff
	// PingMargin is how long past the server's ping interval the client
	// waits for a ping before it treats the connection as dead. Default 5s.
	PingMargin time.Duration
	// DialTimeout bounds dialing and the connect round trip. Default 10s.
	DialTimeout time.Duration
	// Header is sent with the WebSocket handshake (cookies, Origin), and
	// with HTTP streaming's requests.
	Header http.Header
	// TLSConfig configures the TLS of tls:// and https:// URLs (the CA to
	// trust, a client certificate). Nil: the system's roots, TLS 1.2 or
	// later.
	TLSConfig *tls.Config
	// OnState is called on every state change.
	OnState func(StateChange)
	// OnDirect receives direct messages, the recovered ones first.
	OnDirect func(Direct)
	// OnInboxLost is called when missed direct messages could not all be
	// recovered.
	OnInboxLost func(RecoveryLost)
	// RecoveryRetries is how many temporary failures in a row a
	// resubscribe tolerates while recovering (the server's engine away, too
	// many recoveries at once) before the client reports the recovery lost
	// (OnRecoveryLost) and resubscribes from the present. Retries back off
	// as reconnects do. Default 5.
	RecoveryRetries int
}

// Client is a connection to Herald that reconnects by itself. Create it
// with New and Connect, or Dial; stop it with Close.
type Client struct {
	url  string
	opts Options

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	done   chan struct{}  // closed when the run loop exits
	wg     sync.WaitGroup // background work besides the run loop (token refresh)

	mu        sync.Mutex
	state     State
	conn      *conn         // the live connection, nil while none
	up        chan struct{} // closed while a connection is live
	gen       uint64        // connection generation, for resubscribe bookkeeping
	subs      map[string]*Subscription
	inbox     *protocol.StreamPosition // nil for anonymous connections
	clientID  string
	user      string
	httpc     *http.Client // the HTTP-streaming transport's requests
	closeErr  error        // why the client is closed
	firstConn chan error   // the outcome of the first connect, for Connect
	started   bool
}

// New returns a client for url that is not connected yet: ws:// or wss://
// (path /ws) for WebSocket, tcp:// or tls:// (host:port) for the server's
// raw TCP listener, http:// or https:// (path /stream) for HTTP streaming,
// the fallback for networks that let no WebSocket through: the server's
// messages come in one long response, the client's commands as POSTs.
// Everything else is the same over any of them.
func New(url string, opts Options) *Client {
	opts.Backoff.setDefaults()
	if opts.PingMargin <= 0 {
		opts.PingMargin = 5 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.RecoveryRetries <= 0 {
		opts.RecoveryRetries = 5
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		url: url, opts: opts, ctx: ctx, cancel: cancel,
		done:      make(chan struct{}),
		up:        make(chan struct{}),
		subs:      make(map[string]*Subscription),
		firstConn: make(chan error, 1),
		httpc:     httpClient(&opts),
	}
}

// httpClient returns the client of HTTP streaming's requests: its own
// transport, so that Close can close its idle connections, with
// Options.TLSConfig for https.
func httpClient(opts *Options) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if opts.TLSConfig != nil {
		t.TLSClientConfig = opts.TLSConfig.Clone()
	}
	return &http.Client{Transport: t}
}

// Dial returns a connected client, or an error if it could not connect
// before ctx ended or the server refused it for good.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	c := New(url, opts)
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Connect starts the client and waits for its first connection. Failed
// attempts are retried with backoff until ctx ends; a terminal refusal
// (invalid token, 4501) fails at once. After an error the client is closed.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("herald: Connect called twice")
	}
	c.started = true
	c.mu.Unlock()
	go c.run()
	select {
	case err := <-c.firstConn:
		if err != nil {
			c.Close()
		}
		return err
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}

// Close closes the connection and stops reconnecting. Calls in progress
// return ErrClosed. It waits for the client's goroutines to end.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closeErr == nil {
		c.closeErr = ErrClosed
	}
	started := c.started
	c.started = true
	c.mu.Unlock()
	c.cancel()
	if started {
		<-c.done
	}
	c.wg.Wait()
	c.httpc.CloseIdleConnections()
	return nil
}

// ID returns the client id the server assigned on the last connect.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// State returns the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Client) setState(ch StateChange) {
	c.mu.Lock()
	c.state = ch.State
	c.mu.Unlock()
	if c.opts.OnState != nil {
		c.opts.OnState(ch)
	}
}

// run connects, serves the connection until it ends, and reconnects with
// backoff until Close or a terminal close code.
func (c *Client) run() {
	defer close(c.done)
	first := true
	report := func(err error) {
		if first {
			first = false
			c.firstConn <- err
		}
	}
	// closesInARow counts connections in a row that ended soon after they
	// began (see stableConnection).
	closesInARow := 0
	for attempt := 0; ; attempt++ {
		if c.ctx.Err() != nil {
			report(c.closedErr())
			c.setState(StateChange{State: StateClosed})
			return
		}
		c.setState(StateChange{State: StateConnecting})
		cn, res, err := c.dial()
		if err != nil {
			var ce *CloseError
			if errors.As(err, &ce) && (!reconnects(ce.Code, nil) || c.stuckWithToken(ce.Code)) {
				c.closeWith(err)
				report(err)
				c.setState(StateChange{State: StateClosed, Code: ce.Code, Reason: ce.Reason, Err: err})
				return
			}
			c.setState(StateChange{State: StateDisconnected, Err: err})
			if !c.sleep(c.opts.Backoff.Delay(attempt)) {
				continue // closed: the loop's first check reports it
			}
			continue
		}
		attempt = 0
		began := time.Now()
		c.onConnected(cn, res)
		report(nil)

		code, reason := cn.serve(c)
		c.onDisconnected(cn)
		if c.ctx.Err() != nil {
			continue
		}
		if code != 0 && (!reconnects(code, cn.disconnect) || c.stuckWithToken(code)) {
			err := &CloseError{Code: code, Reason: reason}
			c.closeWith(err)
			c.setState(StateChange{State: StateClosed, Code: code, Reason: reason})
			return
		}
		c.setState(StateChange{State: StateDisconnected, Code: code, Reason: reason})
		// A connection that lived comes back at once, with jitter so that
		// a whole server's clients do not arrive together (attempt 0's
		// delay). One that ended soon after it began continues the count,
		// whatever the code: a server that accepts and then refuses (4004,
		// 4005, 4006), or a proxy that drops every connection at once
		// (1006), is asked less and less often.
		if time.Since(began) < stableConnection && continuesBackoff(code) {
			closesInARow++
		} else {
			closesInARow = 0
		}
		delay := c.opts.Backoff.Delay(closesInARow)
		if !c.sleep(delay) {
			continue
		}
		attempt = 0
	}
}

// stuckWithToken reports that the server closed with 4003 (token expired)
// and the client has no TokenFunc to get another: connecting again with the
// same token would be refused again, forever.
func (c *Client) stuckWithToken(code protocol.CloseCode) bool {
	return code == protocol.CloseTokenExpired && c.opts.TokenFunc == nil
}

// stableConnection is how long a connection must have lasted for its end
// to start the backoff over; one that ends sooner continues the count.
const stableConnection = 30 * time.Second

// reconnects reports whether a connection that ended with code is worth
// connecting again: as the server's disconnect push said, when it sent one
// for that code; by the close-code table for the codes Herald defines; and
// yes for any other code, which comes from something between the client
// and the server (a proxy's 1012 "restarting" or 1013 "try again later").
func reconnects(code protocol.CloseCode, pushed *protocol.Disconnect) bool {
	if pushed != nil && pushed.Code == code {
		return pushed.Reconnect
	}
	if definedCode(code) {
		return code.Reconnect()
	}
	return true
}

// continuesBackoff reports whether a connection that ended with code soon
// after it began continues the backoff count. Every close the client
// reconnects after does, except a draining node's (1001): its clients come
// back at once, to another node.
func continuesBackoff(code protocol.CloseCode) bool {
	return code != protocol.CloseGoingAway
}

// definedCode reports whether code is in Herald's close-code table.
func definedCode(code protocol.CloseCode) bool {
	switch code {
	case protocol.CloseNormal, protocol.CloseGoingAway, protocol.CloseProtocolError,
		protocol.CloseUnsupportedData, protocol.CloseInvalidPayload, protocol.CloseMessageTooBig,
		protocol.CloseBadRequest, protocol.CloseUnauthorized, protocol.CloseForbidden:
		return true
	}
	return code >= 4000 && code <= 4006
}

// sleep waits d or until Close; it reports whether the full wait passed.
func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Client) closeWith(err error) {
	c.mu.Lock()
	if c.closeErr == nil || c.closeErr == ErrClosed {
		c.closeErr = err
	}
	c.mu.Unlock()
	c.cancel()
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return c.closeErr
	}
	return ErrClosed
}

// token returns the token for the next connect.
func (c *Client) token(ctx context.Context) (string, error) {
	if c.opts.TokenFunc != nil {
		return c.opts.TokenFunc(ctx)
	}
	return c.opts.Token, nil
}

// connectCommand builds the connect command: the token, and every
// subscription with its position so the server recovers them all in one
// round trip. It marks the subscriptions as sent on generation gen.
func (c *Client) connectCommand(token string, gen uint64) *protocol.Command {
	cmd := &protocol.Command{Type: protocol.TypeConnect, Token: token, Name: c.opts.Name, Version: c.opts.Version}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch, s := range c.subs {
		// A connect's subs entries carry no channel token: a subscription
		// that needs one is subscribed again on its own once connected
		// (onConnected finds it not sent on this generation).
		if s.opts.Token != "" {
			continue
		}
		if cmd.Subs == nil {
			cmd.Subs = make(map[string]protocol.SubscribeSince, len(c.subs))
		}
		cmd.Subs[ch] = protocol.SubscribeSince{Since: s.resumeFrom()}
		s.gen = gen
	}
	if c.inbox != nil {
		pos := *c.inbox
		cmd.InboxSince = &pos
	}
	return cmd
}

// onConnected makes cn the live connection, reports StateConnected, and
// applies the connect result: subscription results and the inbox, in
// order, before any live push. The state comes first, so that an
// application sees "connected" before the publications that connection
// recovered, as it would see a live one.
func (c *Client) onConnected(cn *conn, res *protocol.ConnectResult) {
	c.mu.Lock()
	c.conn = cn
	c.clientID, c.user = res.Client, res.User
	var late []*Subscription // subscribed after the connect command was built
	for _, s := range c.subs {
		if s.gen != cn.gen {
			s.gen = cn.gen
			late = append(late, s)
		}
	}
	close(c.up)
	c.mu.Unlock()
	c.setState(StateChange{State: StateConnected})

	for ch, r := range res.Subs {
		if s := c.subscription(ch); s != nil {
			s.applyResult(r, cn)
		}
	}
	if res.Inbox != nil {
		c.applyInbox(res.Inbox)
	}
	for _, s := range late {
		cn.sendSubscribe(s)
	}
}

// onDisconnected forgets the connection; calls waiting on it fail with
// ErrDisconnected and new calls wait for the next one.
func (c *Client) onDisconnected(cn *conn) {
	c.mu.Lock()
	if c.conn == cn {
		c.conn = nil
		c.up = make(chan struct{})
	}
	c.mu.Unlock()
	cn.failPending()
}

func (c *Client) subscription(channel string) *Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[channel]
}

func (c *Client) applyInbox(in *protocol.InboxResult) {
	pos := protocol.StreamPosition{Offset: in.Offset, Epoch: in.Epoch}
	c.mu.Lock()
	prev := c.inbox
	c.mu.Unlock()
	if prev != nil && !in.Recovered && c.opts.OnInboxLost != nil {
		c.opts.OnInboxLost(RecoveryLost{Since: *prev, Position: pos})
	}
	for _, p := range in.Publications {
		if prev != nil && in.Recovered && p.Offset <= prev.Offset {
			continue
		}
		c.emitDirect(&protocol.Publication{Offset: p.Offset, Data: p.Data, Info: p.Info, Time: p.Time}, protocol.ClientInfo{})
	}
	// Direct pushes continue from here (the last recovered one when the
	// server has more to send).
	c.mu.Lock()
	c.inbox = &pos
	c.mu.Unlock()
}

// deliverDirect delivers a direct push. It reports false, delivering
// nothing, for one that skips ahead of the inbox's position: the inbox
// lost something, which only a reconnect can recover.
func (c *Client) deliverDirect(p *protocol.Publication, from protocol.ClientInfo) bool {
	c.mu.Lock()
	if c.inbox != nil && p.Offset != 0 {
		switch {
		case p.Offset <= c.inbox.Offset:
			c.mu.Unlock()
			return true // already delivered
		case c.inbox.Epoch != "" && p.Offset != c.inbox.Offset+1:
			c.mu.Unlock()
			return false
		}
		c.inbox.Offset = p.Offset
	}
	c.mu.Unlock()
	c.emitDirect(p, from)
	return true
}

// emitDirect hands a direct message to the application.
func (c *Client) emitDirect(p *protocol.Publication, from protocol.ClientInfo) {
	if c.opts.OnDirect != nil {
		if p.Info != nil && from == (protocol.ClientInfo{}) {
			from = *p.Info
		}
		c.opts.OnDirect(Direct{From: from, Data: p.Data, Offset: p.Offset, Time: time.UnixMilli(p.Time)})
	}
}

// live returns the live connection, waiting for one until ctx ends.
func (c *Client) live(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		cn, up, closeErr := c.conn, c.up, c.closeErr
		c.mu.Unlock()
		if closeErr != nil {
			return nil, closeErr
		}
		if cn != nil {
			return cn, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
		}
	}
}

// call sends cmd on the live connection (waiting for one) and decodes the
// reply's result into out.
func (c *Client) call(ctx context.Context, cmd *protocol.Command, out protocol.Result) error {
	cn, err := c.live(ctx)
	if err != nil {
		return err
	}
	reply, err := cn.call(ctx, cmd, nil)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return reply.DecodeResult(out)
}
