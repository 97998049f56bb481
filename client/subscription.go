package client

import (
	"context"
	"sync"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// Message is a publication on a subscribed channel.
type Message struct {
	Channel string
	// Offset is the publication's place in the channel's stream; 0 when the
	// channel keeps no history.
	Offset uint64
	// Data is the payload as it was published: a JSON value, or any bytes a
	// Protobuf client or the API's b64data published (JSON connections
	// receive those base64-encoded; this is the decoded form).
	Data []byte
	// Info is the publishing client; nil when the server API published.
	Info *protocol.ClientInfo
	Time time.Time
}

// SubscribeOptions configures one subscription. Handlers run on the
// client's reader goroutine, in order, and must not block. Events is the
// alternative to handlers for applications that prefer a Go channel.
type SubscribeOptions struct {
	// Token is a channel token, for channels that require one.
	Token string
	// Since resumes from a known position (say, one the application
	// stored); the missed publications are delivered first.
	Since *protocol.StreamPosition
	// OnMessage receives publications, recovered ones first, each once.
	OnMessage func(Message)
	// OnJoin and OnLeave receive presence changes (when the namespace sends them).
	OnJoin, OnLeave func(protocol.ClientInfo)
	// OnRecoveryLost is called when missed publications could not all be
	// recovered, before the ones that could are delivered.
	OnRecoveryLost func(RecoveryLost)
	// OnUnsubscribed is called when the server ends the subscription
	// (server API, or a resubscribe after a reconnect refused for good;
	// temporary refusals are retried with backoff).
	OnUnsubscribed func(code int, reason string)
	// Events, when set, receives everything the handlers left nil would
	// have, in the same order. The client's reader waits for the
	// application to receive each event (until Close), so a channel that is
	// not drained stalls the connection: give it a buffer and read it.
	Events chan<- Event
}

// Event is one thing that happened to a subscription, as sent to
// SubscribeOptions.Events. Exactly one field is set.
type Event struct {
	Message      *Message
	Join, Leave  *protocol.ClientInfo
	RecoveryLost *RecoveryLost
	Unsubscribed *Unsubscribed
}

// Unsubscribed says why the server ended a subscription.
type Unsubscribed struct {
	Code   int
	Reason string
}

// withEvents fills the nil handlers with ones that send to opts.Events,
// giving up when the client closes.
func (opts SubscribeOptions) withEvents(done <-chan struct{}) SubscribeOptions {
	ch := opts.Events
	if ch == nil {
		return opts
	}
	send := func(e Event) {
		select {
		case ch <- e:
		case <-done:
		}
	}
	if opts.OnMessage == nil {
		opts.OnMessage = func(m Message) { send(Event{Message: &m}) }
	}
	if opts.OnJoin == nil {
		opts.OnJoin = func(ci protocol.ClientInfo) { send(Event{Join: &ci}) }
	}
	if opts.OnLeave == nil {
		opts.OnLeave = func(ci protocol.ClientInfo) { send(Event{Leave: &ci}) }
	}
	if opts.OnRecoveryLost == nil {
		opts.OnRecoveryLost = func(r RecoveryLost) { send(Event{RecoveryLost: &r}) }
	}
	if opts.OnUnsubscribed == nil {
		opts.OnUnsubscribed = func(code int, reason string) { send(Event{Unsubscribed: &Unsubscribed{code, reason}}) }
	}
	return opts
}

// Subscription is a client's interest in one channel. It survives
// reconnects: the client resubscribes and recovers it by itself.
type Subscription struct {
	c       *Client
	channel string
	opts    SubscribeOptions

	// gen is the connection generation the subscription was last sent on;
	// guarded by the client's mu.
	gen uint64

	mu     sync.Mutex
	pos    protocol.StreamPosition // last offset delivered, and its epoch
	since  *protocol.StreamPosition
	ready  chan struct{} // closed at the first subscribe result
	err    error         // the first subscribe's error
	active bool
	// retries counts temporary failures of resubscribes in a row.
	retries int
	// resyncing is set from a gap in the live stream until the
	// resubscribe that repairs it is answered: pushes are ignored meanwhile,
	// since the resubscribe recovers them.
	resyncing bool
}

// Channel returns the subscription's channel.
func (s *Subscription) Channel() string { return s.channel }

// Position returns the last delivered position, which an application may
// store to resume from later with SubscribeOptions.Since.
func (s *Subscription) Position() protocol.StreamPosition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// resumeFrom is the since of a resubscribe: the last position, for channels
// with history.
func (s *Subscription) resumeFrom() *protocol.StreamPosition {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active && s.pos.Epoch != "" {
		p := s.pos
		return &p
	}
	return s.since
}

// Subscribe subscribes to channel and returns once the server has accepted
// it (waiting for a connection if there is none). The subscription then
// lives until Unsubscribe or Close, across reconnects.
func (c *Client) Subscribe(ctx context.Context, channel string, opts SubscribeOptions) (*Subscription, error) {
	opts = opts.withEvents(c.ctx.Done())
	s := &Subscription{c: c, channel: channel, opts: opts, since: opts.Since, ready: make(chan struct{})}
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return nil, c.closeErr
	}
	if c.subs[channel] != nil {
		c.mu.Unlock()
		return nil, &Error{Code: protocol.CodeAlreadySubscribed, Message: "already subscribed"}
	}
	c.subs[channel] = s
	cn := c.conn
	if cn != nil {
		s.gen = cn.gen
	}
	c.mu.Unlock()
	// Without a live connection the next connect command carries it.
	if cn != nil {
		cn.sendSubscribe(s)
	}
	select {
	case <-s.ready:
		if s.err != nil {
			return nil, s.err
		}
		return s, nil
	case <-ctx.Done():
		s.Unsubscribe(context.Background())
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, c.closedErr()
	}
}

// sendSubscribe sends the subscribe command; the result is applied on the
// reader goroutine, ahead of the channel's live messages.
func (cn *conn) sendSubscribe(s *Subscription) {
	cmd := &protocol.Command{Type: protocol.TypeSubscribe, Channel: s.channel, Token: s.opts.Token, Since: s.resumeFrom()}
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		_, _ = cn.call(s.c.ctx, cmd, func(reply *protocol.ServerMessage, err error) {
			if err == ErrDisconnected {
				return // the next connect command carries it
			}
			var res protocol.SubscribeResult
			if err == nil {
				err = reply.DecodeResult(&res)
			}
			if err != nil {
				if e, ok := err.(*Error); ok {
					res.Error = &protocol.Error{Code: e.Code, Message: e.Message, Temporary: e.Temporary()}
				} else {
					res.Error = protocol.ErrInternal
				}
			}
			s.applyResult(&res, cn)
		})
	}()
}

// retryLater sends the subscription again on cn after the n-th backoff,
// unless it was unsubscribed or cn ended meanwhile (the next connect
// command carries it then).
func (s *Subscription) retryLater(cn *conn, n int) {
	c := s.c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTimer(c.opts.Backoff.Delay(n - 1))
		defer t.Stop()
		select {
		case <-t.C:
		case <-cn.dead:
			return
		case <-c.ctx.Done():
			return
		}
		c.mu.Lock()
		current := c.subs[s.channel] == s && c.conn == cn
		c.mu.Unlock()
		if current {
			cn.sendSubscribe(s)
		}
	}()
}

// applyResult applies a subscribe result (from subscribe or from connect,
// on connection cn): it reports a lost recovery, delivers the recovered
// publications it has not delivered yet, and moves the position to the
// stream's.
//
// A resubscribe that fails with a temporary error (the server's engine was
// unavailable a moment) keeps the subscription and its position and tries
// again after a backoff, so that a reconnect during a node's restart does
// not end subscriptions the application never gave up.
func (s *Subscription) applyResult(r *protocol.SubscribeResult, cn *conn) {
	s.mu.Lock()
	first := !s.active
	s.resyncing = false
	if r.Error != nil {
		if !first && r.Error.Code.Temporary() {
			s.retries++
			n := s.retries
			var lost *RecoveryLost
			if n > s.c.opts.RecoveryRetries && s.pos.Epoch != "" {
				// The server could not recover the subscription for a
				// while: say so rather than retry silently, and resubscribe
				// from the present from now on.
				lost = &RecoveryLost{Channel: s.channel, Since: s.pos}
				s.pos = protocol.StreamPosition{}
				s.since = nil
			}
			s.mu.Unlock()
			if lost != nil && s.opts.OnRecoveryLost != nil {
				s.opts.OnRecoveryLost(*lost)
			}
			s.retryLater(cn, n)
			return
		}
		s.mu.Unlock()
		s.c.forget(s)
		if first {
			s.err = &Error{Code: r.Error.Code, Message: r.Error.Message, temp: r.Error.Temporary}
			close(s.ready)
		} else if s.opts.OnUnsubscribed != nil {
			s.opts.OnUnsubscribed(int(r.Error.Code), r.Error.Message)
		}
		return
	}
	s.retries = 0
	asked := s.since
	if s.active && s.pos.Epoch != "" {
		p := s.pos
		asked = &p
	}
	last := s.pos
	s.active = true
	s.since = nil
	s.pos = protocol.StreamPosition{Offset: r.Offset, Epoch: r.Epoch}
	s.mu.Unlock()
	if first {
		close(s.ready)
	}
	if asked != nil && r.Recovered != nil && !*r.Recovered && s.opts.OnRecoveryLost != nil {
		s.opts.OnRecoveryLost(RecoveryLost{Channel: s.channel, Since: *asked, Position: protocol.StreamPosition{Offset: r.Offset, Epoch: r.Epoch}})
	}
	for _, p := range r.Publications {
		if r.Recovered != nil && *r.Recovered && last.Epoch == r.Epoch && p.Offset <= last.Offset {
			continue
		}
		s.deliver(Message{Channel: s.channel, Offset: p.Offset, Data: p.Data, Info: p.Info, Time: time.UnixMilli(p.Time)})
	}
}

// handlePush handles a push for this channel, received on cn.
//
// Publications of a stream must arrive with consecutive offsets: one that
// skips ahead means the stream lost something on its way here, and is never
// delivered. The subscription resubscribes from its position instead, which
// recovers what is missing or reports it lost.
func (s *Subscription) handlePush(m *protocol.ServerMessage, cn *conn) {
	switch m.Type {
	case protocol.PushMessage:
		s.mu.Lock()
		if s.resyncing {
			s.mu.Unlock()
			return
		}
		if m.Offset != 0 {
			if m.Offset <= s.pos.Offset {
				s.mu.Unlock()
				return // already delivered from history
			}
			if s.pos.Epoch != "" && m.Offset != s.pos.Offset+1 {
				s.resyncing = true
				s.mu.Unlock()
				s.resync(cn)
				return
			}
			s.pos.Offset = m.Offset
		}
		s.mu.Unlock()
		s.deliver(Message{Channel: s.channel, Offset: m.Offset, Data: m.Data, Info: m.Info, Time: time.UnixMilli(m.Time)})
	case protocol.PushJoin:
		if s.opts.OnJoin != nil && m.Info != nil {
			s.opts.OnJoin(*m.Info)
		}
	case protocol.PushLeave:
		if s.opts.OnLeave != nil && m.Info != nil {
			s.opts.OnLeave(*m.Info)
		}
	case protocol.PushUnsubscribed:
		s.c.forget(s)
		if s.opts.OnUnsubscribed != nil {
			s.opts.OnUnsubscribed(int(m.Code), m.Reason)
		}
	}
}

// resync unsubscribes and subscribes again on cn from the last delivered
// position, in that order (the server handles a connection's commands in
// order), after a gap in the live stream.
func (s *Subscription) resync(cn *conn) {
	c := s.c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_, err := cn.call(c.ctx, &protocol.Command{Type: protocol.TypeUnsubscribe, Channel: s.channel}, nil)
		if err != nil {
			return // the connection ended: the next connect resubscribes
		}
		c.mu.Lock()
		current := c.subs[s.channel] == s && c.conn == cn
		c.mu.Unlock()
		if current {
			cn.sendSubscribe(s)
		}
	}()
}

func (s *Subscription) deliver(m Message) {
	if s.opts.OnMessage != nil {
		s.opts.OnMessage(m)
	}
}

// Unsubscribe ends the subscription. It is idempotent.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	if !s.c.forget(s) {
		return nil
	}
	c := s.c
	c.mu.Lock()
	cn := c.conn
	c.mu.Unlock()
	if cn == nil {
		return nil // not subscribed on any live connection; the next connect omits it
	}
	_, err := cn.call(ctx, &protocol.Command{Type: protocol.TypeUnsubscribe, Channel: s.channel}, nil)
	if err == ErrDisconnected {
		return nil
	}
	return err
}

// forget removes s from the client; it reports whether s was there.
func (c *Client) forget(s *Subscription) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs[s.channel] != s {
		return false
	}
	delete(c.subs, s.channel)
	return true
}
