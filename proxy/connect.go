package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// ConnectRequest is the JSON body of a connect call.
type ConnectRequest struct {
	Client  string      `json:"client"`
	Remote  string      `json:"remote"`
	Headers http.Header `json:"headers,omitempty"`
	Name    string      `json:"name,omitempty"`
	Version string      `json:"version,omitempty"`
}

// ConnectResponse is the JSON answer to a connect call: exactly one of
// Result, Error and Disconnect.
type ConnectResponse struct {
	Result     *ConnectResult    `json:"result"`
	Error      *ErrorAnswer      `json:"error"`
	Disconnect *DisconnectAnswer `json:"disconnect"`
}

// ConnectResult is what the backend grants, as a connection token's claims
// would: User ("" lets the connection in anonymously), Info shown in
// presence, Channels patterns, Subs subscribed server-side, and ExpireAt in
// unix seconds (0: never).
type ConnectResult struct {
	User     string          `json:"user"`
	Info     json.RawMessage `json:"info"`
	Channels []string        `json:"channels"`
	Subs     []string        `json:"subs"`
	ExpireAt int64           `json:"expire_at"`
}

// Connect asks the backend at ConnectURL. It returns the granted claims, a
// *protocol.Error or protocol.Disconnect when the backend refuses, and any
// other error when the backend failed.
func (p *Proxy) Connect(ctx context.Context, req *hub.ConnectRequest) (*auth.ConnectClaims, error) {
	if p.connectURL == "" {
		return nil, errors.New("proxy: no connect URL")
	}
	header := http.Header(req.Header)
	body := ConnectRequest{Client: req.Client, Remote: req.Remote, Headers: header, Name: req.Name, Version: req.Version}
	var resp ConnectResponse
	if err := p.post(ctx, p.connectURL, header, body, &resp); err != nil {
		return nil, err
	}
	if err := refusal(resp.Error, resp.Disconnect, resp.Result != nil); err != nil {
		return nil, err
	}
	r := resp.Result
	if r.ExpireAt < 0 {
		return nil, fmt.Errorf("proxy: negative expire_at")
	}
	claims := &auth.ConnectClaims{User: r.User, ExpiresAt: r.ExpireAt, Channels: r.Channels, Subs: r.Subs}
	if len(r.Info) > 0 && string(r.Info) != "null" {
		claims.Info = r.Info
	}
	return claims, nil
}

// refusal turns an answer's error or disconnect into the error the hub
// understands. It returns nil when the answer holds exactly a result, and
// a failure when it holds nothing, or more than one thing.
func refusal(e *ErrorAnswer, d *DisconnectAnswer, hasResult bool) error {
	n := 0
	for _, present := range []bool{e != nil, d != nil, hasResult} {
		if present {
			n++
		}
	}
	if n != 1 {
		return errors.New("proxy: answer must hold exactly one of result, error, disconnect")
	}
	switch {
	case e != nil:
		code := protocol.ErrorCode(e.Code)
		if code < protocol.CodeInternal || code > protocol.CodeUnrecoverablePosition {
			return fmt.Errorf("proxy: error code %d is not a protocol error code", e.Code)
		}
		return protocol.NewError(code, truncate(e.Message, maxMessage))
	case d != nil:
		if d.Code < 4000 || d.Code > 4999 {
			return fmt.Errorf("proxy: disconnect code %d outside 4000-4999", d.Code)
		}
		return protocol.NewDisconnect(protocol.CloseCode(d.Code), truncate(d.Reason, maxReason))
	}
	return nil
}

const (
	// maxMessage bounds an error message the backend hands a client.
	maxMessage = 256
	// maxReason fits a close frame: 125 bytes of payload less the code.
	maxReason = 123
)

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
