package proxy

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/heraldhq/herald/hub"
)

// SubscribeRequest is the JSON body of a subscribe call.
type SubscribeRequest struct {
	Client  string          `json:"client"`
	User    string          `json:"user"`
	Channel string          `json:"channel"`
	Info    json.RawMessage `json:"info,omitempty"`
}

// SubscribeResponse is the JSON answer to a subscribe call: exactly one of
// Result (an object, empty for now) and Error.
type SubscribeResponse struct {
	Result *struct{}    `json:"result"`
	Error  *ErrorAnswer `json:"error"`
}

// Subscribe asks the backend at SubscribeURL. It returns nil to allow, a
// *protocol.Error when the backend refuses, and any other error when the
// backend failed.
func (p *Proxy) Subscribe(ctx context.Context, req *hub.SubscribeRequest) error {
	if p.subscribeURL == "" {
		return errors.New("proxy: no subscribe URL")
	}
	body := SubscribeRequest{Client: req.Client, User: req.User, Channel: req.Channel, Info: req.Info}
	var resp SubscribeResponse
	if err := p.post(ctx, p.subscribeURL, nil, body, &resp); err != nil {
		return err
	}
	return refusal(resp.Error, nil, resp.Result != nil)
}
