package hub

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/heraldhq/herald/auth"
)

// ConnectProxy authenticates a connection by asking the application's
// backend instead of verifying a token: how apps with session cookies let
// their users in without minting JWTs. Package proxy implements it over
// HTTP.
type ConnectProxy interface {
	// Connect returns what the backend grants the connection. An error
	// that is a *protocol.Error refuses it with that error; any other
	// error is the backend's failure.
	Connect(ctx context.Context, req *ConnectRequest) (*auth.ConnectClaims, error)
}

// ConnectRequest is what a ConnectProxy learns about a connecting client.
type ConnectRequest struct {
	Client  string
	Remote  string
	Header  http.Header
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
