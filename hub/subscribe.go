package hub

import (
	"context"
	"errors"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/protocol"
)

// subscribe checks and registers a subscription and builds its result,
// with at most *budget bytes of recovered publications (it decreases
// *budget by what it uses). The caller queues the result, then activates
// the returned activation. serverSide subscriptions (token subs claim,
// server API) skip permission checks and the subscribe proxy.
func (c *Client) subscribe(ctx context.Context, channel, token string, since *protocol.StreamPosition, serverSide bool, budget *int) (*protocol.SubscribeResult, activation, error) {
	h := c.hub
	ns, err := h.namespace(channel)
	if err != nil {
		return nil, activation{}, err
	}
	// The limits first: they cost nothing, and a refused subscribe must
	// not cost the backend a proxy call.
	if err := c.canAdd(channel); err != nil {
		return nil, activation{}, err
	}
	c.mu.Lock()
	user, channels := c.user, c.channelsClaim
	c.mu.Unlock()
	if !serverSide {
		if err := c.canSubscribe(ns, channel, token, user, channels); err != nil {
			return nil, activation{}, err
		}
		if err := c.checkNewChannel(ns, channel); err != nil {
			return nil, activation{}, err
		}
		// Server-side subscribes (server API, the subs claim) come from the
		// backend already: only the client's own ask the proxy.
		if ns.SubscribeProxy {
			if err := c.askSubscribeProxy(ctx, channel, user); err != nil {
				return nil, activation{}, err
			}
		}
	}

	s := &subscription{client: c, channel: channel, ns: ns, serverSide: serverSide}
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return nil, activation{}, protocol.ErrInternal
	}
	// Checked again: a server-side subscribe may have run meanwhile.
	if err := c.canAddLocked(channel); err != nil {
		c.mu.Unlock()
		return nil, activation{}, err
	}
	c.subs.put(s)
	c.mu.Unlock()

	// Register before reading the stream: what is published from here on is
	// held by the subscription, what was published before is in history, and
	// activate drops the overlap.
	if err := h.addSubscription(ctx, s); err != nil {
		c.dropSub(s)
		h.log.Error("broker subscribe", "channel", channel, "err", err)
		return nil, activation{}, protocol.ErrInternal
	}
	// A server-side subscribe runs beside the client's own goroutine: if the
	// client closed meanwhile, its cleanup missed s, so undo it here.
	c.mu.Lock()
	gone := c.state == stateClosed || c.subs.get(channel) != s
	c.mu.Unlock()
	if gone {
		h.removeSubscription(ctx, s)
		return nil, activation{}, protocol.ErrInternal
	}
	res, more, err := h.subscribeResult(ctx, ns, channel, since, budget)
	if err != nil {
		c.dropSub(s)
		h.removeSubscription(ctx, s)
		return nil, activation{}, err
	}
	c.countNewChannel(ns, !serverSide && !more && res.Offset == 0)
	if ns.Presence {
		info := c.clientInfo(true)
		h.forgetRemoval(channel, c.id) // of an earlier subscription's entry
		if err := h.broker.AddPresence(ctx, channel, info, h.cfg.PresenceTTL); err != nil {
			h.log.Warn("add presence", "channel", channel, "err", err)
		}
		if ns.JoinLeave {
			if err := h.broker.PublishJoin(ctx, channel, info); err != nil {
				h.log.Warn("publish join", "channel", channel, "err", err)
			}
		}
	}
	return res, activation{sub: s, pos: res.Position(), more: more}, nil
}

var errTooManyChannels = protocol.NewError(protocol.CodeLimitExceeded, "too many channels")

// canAdd checks that the client may add a subscription to channel: not
// subscribed already, and below the channel limit.
func (c *Client) canAdd(channel string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.canAddLocked(channel)
}

// canAddLocked is canAdd with c.mu held.
func (c *Client) canAddLocked(channel string) error {
	switch {
	case c.subs.get(channel) != nil:
		return protocol.ErrAlreadySubscribed
	case c.subs.len() >= c.hub.cfg.MaxChannelsPerConnection:
		return errTooManyChannels
	}
	return nil
}

// canSubscribe applies the channel's permission rules.
func (c *Client) canSubscribe(ns *Namespace, channel, token, user string, channels []string) error {
	if _, limited := allowedUsers(channel); limited {
		if !userAllowed(channel, user) {
			return protocol.ErrPermissionDenied
		}
		return nil
	}
	if token != "" {
		return c.checkChannelToken(channel, token, user)
	}
	if auth.MatchChannel(channels, channel) {
		return nil
	}
	switch ns.AllowSubscribe {
	case SubscribeAny:
		return nil
	case SubscribeAuthenticated:
		if user != "" {
			return nil
		}
	}
	return protocol.ErrPermissionDenied
}

func (c *Client) checkChannelToken(channel, token, user string) error {
	if c.hub.tokens == nil {
		return protocol.ErrPermissionDenied
	}
	claims, err := c.hub.tokens.VerifyChannel(token)
	if errors.Is(err, auth.ErrTokenExpired) {
		return protocol.ErrTokenExpired
	}
	if err != nil || claims.User != user || claims.Channel != channel {
		return protocol.ErrPermissionDenied
	}
	return nil
}

// subscribeResult reads the channel's stream position and, with since,
// the publications the client missed: as many as *budget bytes allow, more
// reporting that the rest is to be caught up (see catchup.go). A since
// that cannot be continued gets recovered: false and no publications: the
// client's state is stale whatever it is sent, and one that wants what is
// retained asks for it with history.
func (h *Hub) subscribeResult(ctx context.Context, ns *Namespace, channel string, since *protocol.StreamPosition, budget *int) (res *protocol.SubscribeResult, more bool, err error) {
	res = &protocol.SubscribeResult{}
	if since != nil {
		res.Recovered = new(bool)
	}
	if !ns.KeepsHistory() {
		return res, false, nil
	}
	var pubs []*broker.Publication
	var pos broker.StreamPosition
	if since != nil && ns.Recover {
		r := streamRef{channel: channel}
		pubs, pos, more, err = h.recoverFirst(ctx, r, broker.StreamPosition{Offset: since.Offset, Epoch: since.Epoch}, budget)
		*res.Recovered = err == nil
		if errors.Is(err, broker.ErrUnrecoverable) {
			err = nil
		}
	} else {
		_, pos, err = h.readStream(ctx, streamRef{channel: channel}, broker.HistoryOptions{Limit: -1})
	}
	if err != nil {
		return nil, false, brokerError(h, "broker history", channel, err)
	}
	res.Offset, res.Epoch = pos.Offset, pos.Epoch
	if more {
		res.More = true
		res.Offset = since.Offset
		if len(pubs) > 0 {
			res.Offset = pubs[len(pubs)-1].Offset
		}
	}
	if res.Recovered != nil && *res.Recovered && len(pubs) > 0 {
		res.Publications = h.toWireList(pubs)
	}
	return res, more, nil
}

// brokerError logs a failed broker call and returns what the client sees:
// the error itself when it is a protocol error already (errCatchupsBusy),
// else the temporary internal error.
func brokerError(h *Hub, what, channel string, err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	h.log.Error(what, "channel", channel, "err", err)
	return protocol.ErrInternal
}

// addSubscription registers s with the channel, subscribing this node at the
// broker when s is the channel's first local subscription.
func (h *Hub) addSubscription(ctx context.Context, s *subscription) error {
	lock := &h.subscribeLocks[shardOf(s.channel)]
	lock.Lock()
	defer lock.Unlock()
	if first := h.channels.add(s); first {
		if err := h.broker.Subscribe(ctx, s.channel); err != nil {
			h.channels.remove(s)
			return err
		}
	}
	return nil
}

// removeSubscription unregisters s, leaves presence, and unsubscribes this
// node at the broker when s was the channel's last local subscription.
//
// A draining node does not unsubscribe: its broker subscriptions end with
// its broker connections, and unsubscribing every channel of thousands of
// clients one by one, each confirmed by the engine, held the exit up for
// seconds and delayed the presence removals, which other nodes do see.
func (h *Hub) removeSubscription(ctx context.Context, s *subscription) {
	s.remove()
	lock := &h.subscribeLocks[shardOf(s.channel)]
	lock.Lock()
	last := h.channels.remove(s)
	if last && !h.draining.Load() {
		if err := h.broker.Unsubscribe(ctx, s.channel); err != nil {
			h.log.Warn("broker unsubscribe", "channel", s.channel, "err", err)
		}
	}
	lock.Unlock()
	if s.ns.Presence {
		h.leavePresence(ctx, s) // retried if the engine is away
	}
}

// dropSub forgets s in the client's own set, if it is still there.
func (c *Client) dropSub(s *subscription) {
	c.mu.Lock()
	if c.subs.get(s.channel) == s {
		c.subs.remove(s.channel)
	}
	c.mu.Unlock()
}

// unsubscribe is the unsubscribe command: idempotent.
func (c *Client) unsubscribe(ctx context.Context, channel string) (protocol.Result, error) {
	if !ValidChannel(channel) {
		return nil, protocol.NewError(protocol.CodeBadRequest, "invalid channel name")
	}
	c.mu.Lock()
	s := c.subs.remove(channel)
	c.mu.Unlock()
	if s != nil {
		c.hub.removeSubscription(ctx, s)
	}
	return &protocol.EmptyResult{}, nil
}

// clientInfo describes the client for presence and publications.
func (c *Client) clientInfo(withConnInfo bool) *broker.ClientInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := &broker.ClientInfo{User: c.user, Client: c.id}
	if withConnInfo {
		ci.ConnInfo = c.connInfo
	}
	return ci
}

// presenceSubs returns the client's subscriptions that track presence.
func (c *Client) presenceSubs() []*subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*subscription
	c.subs.all(func(s *subscription) {
		if s.ns.Presence {
			out = append(out, s)
		}
	})
	return out
}

// subscribed reports whether the client is subscribed to channel.
func (c *Client) subscribed(channel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs.get(channel) != nil
}
