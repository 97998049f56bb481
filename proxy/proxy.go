// Package proxy asks the application's backend over HTTP whether a client
// may connect or subscribe: the hub's ConnectProxy and SubscribeProxy for
// applications that keep sessions in cookies rather than minting tokens.
//
// Every call is one POST of a JSON body to a configured URL, bounded by a
// timeout; the answer is read up to MaxResponseBytes and checked field by
// field. A backend that is down, slow, answers a non-2xx status or malformed
// JSON is a failure (the hub answers the temporary error 100), never a hang
// and never a crash. docs/PROXY.md documents the JSON shapes.
//
// A Proxy is safe for concurrent use.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/hub"
)

// MaxResponseBytes bounds a backend's answer; a longer one is a failure.
const MaxResponseBytes = 64 << 10

// DefaultTimeout bounds one backend call when Options.Timeout is zero.
const DefaultTimeout = 3 * time.Second

// maxRedirects bounds same-host redirects.
const maxRedirects = 3

// Options configures a Proxy. Zero values take the defaults given in each
// field's comment.
type Options struct {
	// ConnectURL receives connect requests; "" turns the connect proxy off.
	ConnectURL string
	// SubscribeURL receives subscribe requests; "" turns the subscribe
	// proxy off.
	SubscribeURL string
	// Timeout bounds one call, connecting and reading the answer included.
	// Default 3s.
	Timeout time.Duration
	// HTTPClient makes the calls. Default: a client with its own transport.
	// Whichever client, redirects are followed only to the same scheme and
	// host, at most three.
	HTTPClient *http.Client
	// Headers are added to every call, after the client's forwarded
	// headers: a shared secret the backend checks, for instance.
	Headers http.Header
}

// Proxy calls the backend. Create it with New.
type Proxy struct {
	connectURL   string
	subscribeURL string
	timeout      time.Duration
	client       *http.Client
	headers      http.Header
}

var (
	_ hub.ConnectProxy   = (*Proxy)(nil)
	_ hub.SubscribeProxy = (*Proxy)(nil)
)

// New checks opts and returns a Proxy.
func New(opts Options) (*Proxy, error) {
	for _, u := range []string{opts.ConnectURL, opts.SubscribeURL} {
		if u == "" {
			continue
		}
		if err := checkURL(u); err != nil {
			return nil, err
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	var client http.Client
	if opts.HTTPClient != nil {
		client = *opts.HTTPClient // a copy: the caller's CheckRedirect stays theirs
	} else {
		client.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	client.CheckRedirect = sameHostRedirect
	return &Proxy{
		connectURL:   opts.ConnectURL,
		subscribeURL: opts.SubscribeURL,
		timeout:      opts.Timeout,
		client:       &client,
		headers:      opts.Headers.Clone(),
	}, nil
}

// ConnectProxy returns p as a hub.ConnectProxy, or nil when no ConnectURL
// is set, so that it can go straight into hub.Config.
func (p *Proxy) ConnectProxy() hub.ConnectProxy {
	if p.connectURL == "" {
		return nil
	}
	return p
}

// SubscribeProxy returns p as a hub.SubscribeProxy, or nil when no
// SubscribeURL is set.
func (p *Proxy) SubscribeProxy() hub.SubscribeProxy {
	if p.subscribeURL == "" {
		return nil
	}
	return p
}

// CloseIdleConnections closes the kept-alive connections to the backend;
// call it once the hub is shut down.
func (p *Proxy) CloseIdleConnections() { p.client.CloseIdleConnections() }

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// Not the URL itself: it may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("proxy: invalid URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("proxy: URL %q must be http or https with a host", u.Redacted())
	}
	return nil
}

// sameHostRedirect refuses redirects to another scheme or host: the request
// carries the user's cookies and the operator's headers.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errors.New("proxy: too many redirects")
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return errors.New("proxy: redirect to another host refused")
	}
	return nil
}

// ErrorAnswer is a refusal: Code is one of the protocol's error codes
// (101 unauthorized, 103 permission denied, 109 token expired...), Message
// reaches the client.
type ErrorAnswer struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

// DisconnectAnswer closes the connection with Code (4000-4999) and Reason
// instead of a plain refusal.
type DisconnectAnswer struct {
	Code   uint16 `json:"code"`
	Reason string `json:"reason"`
}

// post sends body to rawURL with header (forwarded from the client, may be
// nil) and decodes the answer into out. Every error it returns is a backend
// failure.
func (p *Proxy) post(ctx context.Context, rawURL string, header http.Header, body any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("proxy: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	for k, v := range p.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("proxy: %w", err) // *url.Error: the URL without its password
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
		return fmt.Errorf("proxy: backend answered status %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("proxy: read answer: %w", err)
	}
	if len(raw) > MaxResponseBytes {
		return fmt.Errorf("proxy: answer longer than %d bytes", MaxResponseBytes)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		// The decoder's message names a type or offset, never the content.
		return fmt.Errorf("proxy: malformed answer: %w", err)
	}
	return nil
}
