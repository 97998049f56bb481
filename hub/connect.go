package hub

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math"
	"slices"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/protocol"
)

// handleConnect authenticates the client, subscribes what it asked for (and
// what its token's subs claim names), and answers with everything in one
// reply. A failed connect is answered, then the connection is closed.
func (c *Client) handleConnect(cmd *protocol.Command) error {
	h := c.hub
	var claims *auth.ConnectClaims
	switch {
	case cmd.Token != "" && h.tokens != nil:
		var err error
		claims, err = h.tokens.VerifyConnect(cmd.Token)
		if errors.Is(err, auth.ErrTokenExpired) {
			c.replyError(cmd.ID, protocol.ErrTokenExpired)
			return protocol.DisconnectTokenExpired
		}
		if err != nil || claims.User == "" {
			c.replyError(cmd.ID, protocol.ErrUnauthorized)
			return protocol.DisconnectUnauthorized
		}
	case cmd.Token != "":
		c.replyError(cmd.ID, protocol.ErrUnauthorized)
		return protocol.DisconnectUnauthorized
	case c.peer.CertUser != "":
		// The TLS layer verified a client certificate naming the user.
		claims = &auth.ConnectClaims{User: c.peer.CertUser}
	case h.cfg.ConnectProxy != nil:
		var e *protocol.Error
		var d protocol.Disconnect
		if claims, e, d = c.askConnectProxy(cmd); e != nil {
			c.replyError(cmd.ID, e)
			return d
		}
	case !h.cfg.Anonymous:
		c.replyError(cmd.ID, protocol.NewError(protocol.CodeUnauthorized, "anonymous connections are not allowed"))
		return protocol.DisconnectUnauthorized
	default:
		claims = &auth.ConnectClaims{}
	}
	if claims.User != "" && h.users.countOf(claims.User) >= h.maxConnectionsPerUser() {
		c.replyError(cmd.ID, errUserConnectionLimit)
		return protocol.DisconnectConnectionLimit
	}

	c.mu.Lock()
	// A slow connect proxy may have outlived the connection, or a shutdown
	// may have begun meanwhile.
	if c.state != stateConnecting || c.closing != nil {
		c.mu.Unlock()
		return errStop
	}
	c.state = stateConnected
	c.peer.Header = nil
	c.user = claims.User
	c.connInfo = claims.Info
	c.channelsClaim = claims.Channels
	c.expiresAt = claims.ExpiresAt
	if c.user != "" {
		c.inbox = &subscription{client: c}
	}
	c.startHeartbeat()
	c.scheduleExpiry()
	c.mu.Unlock()

	ctx, cancel := h.brokerContext()
	defer cancel()
	res := &protocol.ConnectResult{
		Client:  c.id,
		User:    claims.User,
		Ping:    int(h.cfg.PingInterval.Seconds()),
		Expires: claims.ExpiresAt,
	}
	if st, ok := c.t.(SessionTransport); ok {
		res.Session = st.Session()
	}
	var acts []activation
	budget := h.replyBudget()
	subscribeOne := func(channel string, since *protocol.StreamPosition, serverSide bool) {
		r, act, err := c.subscribe(ctx, channel, "", since, serverSide, &budget)
		if res.Subs == nil {
			res.Subs = make(map[string]*protocol.SubscribeResult)
		}
		if err != nil {
			res.Subs[channel] = &protocol.SubscribeResult{Error: toProtocolError(err)}
			return
		}
		res.Subs[channel] = r
		acts = append(acts, act)
	}
	// Sorted so that a client hitting the channel limit gets the same
	// channels every time. Each entry is a subscribe and costs one of the
	// connection's commands; one past the channel limit is refused before
	// any work (a subscribe proxy call in particular), and so is one past
	// the command rate.
	for _, ch := range slices.Sorted(maps.Keys(cmd.Subs)) {
		if err := c.canAdd(ch); err != nil {
			if res.Subs == nil {
				res.Subs = make(map[string]*protocol.SubscribeResult)
			}
			res.Subs[ch] = &protocol.SubscribeResult{Error: toProtocolError(err)}
			continue
		}
		if !c.allowCommand() {
			c.hub.obs.RateLimited(LimitCommand)
			if res.Subs == nil {
				res.Subs = make(map[string]*protocol.SubscribeResult)
			}
			res.Subs[ch] = &protocol.SubscribeResult{Error: protocol.ErrTooManyRequests}
			continue
		}
		subscribeOne(ch, cmd.Subs[ch].Since, false)
	}
	for _, ch := range claims.Subs {
		if _, done := res.Subs[ch]; !done {
			subscribeOne(ch, nil, true)
		}
	}

	if c.inbox != nil {
		h.users.add(c.user, c)
		// The check above is cheap but two connects may pass it together;
		// counting after adding is what keeps the limit. Two that cross
		// it at once may both be refused: never both let in.
		if h.users.countOf(c.user) > h.maxConnectionsPerUser() {
			h.users.remove(c.user, c)
			c.replyError(cmd.ID, errUserConnectionLimit)
			return protocol.DisconnectConnectionLimit
		}
		inbox, more, err := h.inboxResult(ctx, c.user, cmd.InboxSince, &budget)
		if err != nil {
			// The engine is away: error 100 (temporary), then 4006, the
			// close code that says to reconnect after a backoff.
			c.replyError(cmd.ID, toProtocolError(err))
			return disconnectUnavailable
		}
		res.Inbox = inbox
		acts = append(acts, activation{c.inbox, protocol.StreamPosition{Offset: inbox.Offset, Epoch: inbox.Epoch}, more})
	}

	msg, ok := c.encodeReply(cmd, res)
	if !ok {
		// The client cannot be told what it is subscribed to: it must not
		// stay, subscribed or waiting.
		c.undo(ctx, acts)
		return protocol.DisconnectInternal
	}
	c.awaitRoom(len(msg))
	c.queueActivating(msg, acts)
	c.logger().Debug("client connected", "subs", len(res.Subs))
	return nil
}

// inboxResult reads the user's inbox position and, with since, what the
// user missed, within *budget bytes as subscribeResult does.
func (h *Hub) inboxResult(ctx context.Context, user string, since *protocol.StreamPosition, budget *int) (res *protocol.InboxResult, more bool, err error) {
	res = &protocol.InboxResult{Publications: []*protocol.Publication{}}
	if !h.cfg.Inbox.Keeps() {
		return res, false, nil
	}
	r := streamRef{user: user}
	var pubs []*broker.Publication
	var pos broker.StreamPosition
	if since != nil {
		pubs, pos, more, err = h.recoverFirst(ctx, r, broker.StreamPosition{Offset: since.Offset, Epoch: since.Epoch}, budget)
		res.Recovered = err == nil
		if errors.Is(err, broker.ErrUnrecoverable) {
			err = nil
		}
	} else {
		_, pos, err = h.readStream(ctx, r, broker.HistoryOptions{Limit: -1})
	}
	if err != nil {
		return nil, false, brokerError(h, "broker inbox history", "", err)
	}
	res.Offset, res.Epoch = pos.Offset, pos.Epoch
	if more {
		res.More = true
		res.Offset = since.Offset
		if len(pubs) > 0 {
			res.Offset = pubs[len(pubs)-1].Offset
		}
	}
	if res.Recovered {
		res.Publications = h.toWireList(pubs)
	}
	return res, more, nil
}

// refresh is the refresh command: a new token for the same user, checked
// as a connect token is, replaces the old one's terms: its exp (a token
// without exp cannot refresh a connection that expires, 107: the backend
// would silently make it immortal), its channels claim for later
// subscribes, and its info, which presence shows at once. Its subs claim is
// for connect only. A connection the connect proxy let in has no token to
// renew: it refreshes by reconnecting, which asks the proxy again with the
// cookies of the new upgrade request (the hub does not keep them).
func (c *Client) refresh(token string) (protocol.Result, error) {
	if token == "" {
		return nil, errRefreshNeedsToken
	}
	if c.hub.tokens == nil {
		return nil, protocol.ErrUnauthorized
	}
	claims, err := c.hub.tokens.VerifyConnect(token)
	if errors.Is(err, auth.ErrTokenExpired) {
		return nil, protocol.ErrTokenExpired
	}
	c.mu.Lock()
	if err != nil || claims.User != c.user || c.user == "" {
		c.mu.Unlock()
		return nil, protocol.ErrUnauthorized
	}
	if claims.ExpiresAt == 0 && c.expiresAt != 0 {
		c.mu.Unlock()
		return nil, errRefreshNeedsExp
	}
	c.expiresAt = claims.ExpiresAt
	c.scheduleExpiry()
	c.channelsClaim = claims.Channels
	infoChanged := !bytes.Equal(c.connInfo, claims.Info)
	c.connInfo = claims.Info
	c.mu.Unlock()
	if infoChanged {
		c.readdPresence()
	}
	return &protocol.RefreshResult{Expires: claims.ExpiresAt}, nil
}

var (
	disconnectUnavailable  = protocol.NewDisconnect(protocol.CloseInternal, "temporarily unavailable")
	errUserConnectionLimit = protocol.NewError(protocol.CodeLimitExceeded, "too many connections for this user")
	errRefreshNeedsToken   = protocol.NewError(protocol.CodeBadRequest,
		"token required: a connection without a token (such as one the connect proxy let in) refreshes by reconnecting")
)

// maxConnectionsPerUser is the configured limit; the largest int for none.
func (h *Hub) maxConnectionsPerUser() int {
	if n := h.cfg.MaxConnectionsPerUser; n > 0 {
		return n
	}
	return math.MaxInt
}
