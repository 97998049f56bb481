package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/protocol"
)

// ConnectProxy authenticates a connection by asking the application's
// backend instead of verifying a token: how apps with session cookies let
// their users in without minting JWTs. Package proxy implements it over
// HTTP.
type ConnectProxy interface {
	// Connect returns what the backend grants the connection, as a
	// token's claims (User "" lets it in anonymously). An error that is a
	// *protocol.Error refuses it with that error and the close code that
	// goes with it (101 → 4501, 109 → 4003, 106 → 4005, 110 → 4004,
	// 100 → 4006, others → 4501); a protocol.Disconnect closes with its
	// code; any other error is the backend's failure: error 100, close
	// 4006. It must return soon after ctx is done: the hub's Shutdown
	// cancels calls in flight and waits for them.
	Connect(ctx context.Context, req *ConnectRequest) (*auth.ConnectClaims, error)
}

// ConnectRequest is what a ConnectProxy learns about a connecting client:
// its id and address, the request headers the transport forwards
// (Peer.Header), and the name and version its connect command gave.
type ConnectRequest struct {
	Client  string
	Remote  string
	Header  map[string][]string
	Name    string
	Version string
}

// SubscribeProxy asks the application's backend whether a connection may
// subscribe to a channel of a namespace that has SubscribeProxy on.
type SubscribeProxy interface {
	// Subscribe returns nil to allow. An error that is a *protocol.Error
	// refuses with that error; any other error is the backend's failure.
	Subscribe(ctx context.Context, req *SubscribeRequest) error
}

// SubscribeRequest is what a SubscribeProxy learns about a subscribe.
type SubscribeRequest struct {
	Client  string
	User    string
	Channel string
	Info    json.RawMessage
}

// askConnectProxy authenticates a connect without a token through the
// connect proxy. On refusal or failure it returns the reply's error and the
// disconnect that follows it.
func (c *Client) askConnectProxy(cmd *protocol.Command) (*auth.ConnectClaims, *protocol.Error, protocol.Disconnect) {
	h := c.hub
	// The connect command has arrived in time; from here the proxy call is
	// bounded by its own context, and the connect timer must not close the
	// connection under it with 4500.
	c.mu.Lock()
	h.beats.remove(c)
	req := &ConnectRequest{Client: c.id, Remote: c.peer.Remote, Header: c.peer.Header, Name: cmd.Name, Version: cmd.Version}
	c.mu.Unlock()

	claims, err := h.callConnectProxy(req)
	if err == nil && claims.ExpiresAt != 0 && claims.ExpiresAt <= time.Now().Unix() {
		err = protocol.ErrTokenExpired
	}
	if err == nil {
		return claims, nil, protocol.Disconnect{}
	}
	var pe *protocol.Error
	var d protocol.Disconnect
	switch {
	case errors.As(err, &pe):
		return nil, pe, protocol.NewDisconnect(closeCodeFor(pe.Code), pe.Message)
	case errors.As(err, &d):
		return nil, protocol.NewError(errorCodeFor(d.Code), d.Reason), d
	}
	// Never the request's headers: the error comes from the proxy, which
	// names the backend and what went wrong, not what was sent.
	c.logger().Warn("connect proxy failed", "err", err)
	return nil, protocol.ErrInternal, protocol.DisconnectInternal
}

// errProxyStopped is what a connect proxy call gets once Shutdown has
// begun: the connection is being closed with 1001 anyway.
var errProxyStopped = protocol.NewError(protocol.CodeInternal, "shutting down")

// callConnectProxy asks the connect proxy, bounded by the connect timeout
// (the proxy has its own, shorter one) and by the hub's shutdown, so that
// neither a stuck backend nor a draining node keeps the reader waiting.
// The call is counted: Shutdown returns only after it has.
func (h *Hub) callConnectProxy(req *ConnectRequest) (*auth.ConnectClaims, error) {
	if !h.life.track() {
		return nil, errProxyStopped
	}
	defer h.life.untrack()
	ctx, cancel := context.WithTimeout(h.life.ctx, h.cfg.ConnectTimeout)
	defer cancel()
	return h.cfg.ConnectProxy.Connect(ctx, req)
}

// closeCodeFor is the close code that follows a refused connect's error.
func closeCodeFor(code protocol.ErrorCode) protocol.CloseCode {
	switch code {
	case protocol.CodeInternal:
		return protocol.CloseInternal
	case protocol.CodeLimitExceeded:
		return protocol.CloseConnectionLimit
	case protocol.CodeTokenExpired:
		return protocol.CloseTokenExpired
	case protocol.CodeTooManyRequests:
		return protocol.CloseRateLimited
	}
	return protocol.CloseUnauthorized
}

// errorCodeFor is the connect reply's error when the proxy chose a close
// code: the connect command still gets exactly one reply.
func errorCodeFor(code protocol.CloseCode) protocol.ErrorCode {
	switch code {
	case protocol.CloseInternal:
		return protocol.CodeInternal
	case protocol.CloseConnectionLimit:
		return protocol.CodeLimitExceeded
	case protocol.CloseTokenExpired:
		return protocol.CodeTokenExpired
	case protocol.CloseRateLimited:
		return protocol.CodeTooManyRequests
	}
	return protocol.CodeUnauthorized
}

// askSubscribeProxy asks the subscribe proxy about a client subscribe to a
// channel of a namespace with SubscribeProxy on.
func (c *Client) askSubscribeProxy(ctx context.Context, channel, user string) error {
	p := c.hub.cfg.SubscribeProxy
	if p == nil {
		// Fail closed: the namespace wants the backend's word and there is
		// nobody to ask.
		c.logger().Error("namespace has subscribe_proxy on but no subscribe proxy is configured", "channel", channel)
		return protocol.ErrInternal
	}
	c.mu.Lock()
	req := &SubscribeRequest{Client: c.id, User: user, Channel: channel, Info: c.connInfo}
	c.mu.Unlock()
	err := p.Subscribe(ctx, req)
	var pe *protocol.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return pe
	}
	c.logger().Warn("subscribe proxy failed", "channel", channel, "err", err)
	return protocol.ErrInternal
}
