package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

func TestNewChecksURLs(t *testing.T) {
	for _, u := range []string{"ftp://backend/connect", "backend/connect", "http://", "http://a b/"} {
		if _, err := New(Options{ConnectURL: u}); err == nil {
			t.Errorf("New accepted %q", u)
		}
	}
	_, err := New(Options{SubscribeURL: "http://user:hunter2@backend/x y%zz"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password or is missing", err)
	}
	p, err := New(Options{SubscribeURL: "https://backend/subscribe"})
	if err != nil {
		t.Fatal(err)
	}
	if p.ConnectProxy() != nil || p.SubscribeProxy() == nil {
		t.Fatalf("a Proxy with only a subscribe URL is a connect proxy, or not a subscribe proxy")
	}
}

// newTestProxy starts a backend with handler and a Proxy on it.
func newTestProxy(t *testing.T, handler http.HandlerFunc, opts Options) *Proxy {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	opts.ConnectURL = srv.URL + "/connect"
	opts.SubscribeURL = srv.URL + "/subscribe"
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.CloseIdleConnections)
	return p
}

func TestHeaders(t *testing.T) {
	var got http.Header
	p := newTestProxy(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write([]byte(`{"result": {"user": "u"}}`))
	}, Options{Headers: http.Header{"X-Backend-Secret": {"operator"}}})
	_, err := p.Connect(context.Background(), &hub.ConnectRequest{Header: http.Header{
		"Cookie":           {"session=1"},
		"X-Backend-Secret": {"forged by the client"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("Cookie") != "session=1" || got.Get("X-Backend-Secret") != "operator" || got.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got)
	}
}

func TestRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the redirect to another host was followed")
	}))
	defer other.Close()
	p := newTestProxy(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/connect":
			http.Redirect(w, r, "/connect2", http.StatusTemporaryRedirect)
		case "/connect2":
			_, _ = w.Write([]byte(`{"result": {"user": "moved"}}`))
		case "/subscribe":
			http.Redirect(w, r, other.URL+"/subscribe", http.StatusTemporaryRedirect)
		}
	}, Options{})
	claims, err := p.Connect(context.Background(), &hub.ConnectRequest{})
	if err != nil || claims.User != "moved" {
		t.Fatalf("same-host redirect: %v %v", claims, err)
	}
	err = p.Subscribe(context.Background(), &hub.SubscribeRequest{Channel: "x"})
	var pe *protocol.Error
	if err == nil || errors.As(err, &pe) {
		t.Fatalf("redirect to another host: %v, want a failure", err)
	}
}

func TestRefusalTruncates(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	p := newTestProxy(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"disconnect": {"code": 4100, "reason": "` + long + `"}}`))
	}, Options{})
	_, err := p.Connect(context.Background(), &hub.ConnectRequest{})
	var d protocol.Disconnect
	if !errors.As(err, &d) || d.Code != 4100 || len(d.Reason) > maxReason || !strings.HasPrefix(long, d.Reason) {
		t.Fatalf("disconnect %v", err)
	}
}

func TestNoURL(t *testing.T) {
	p, _ := New(Options{})
	if _, err := p.Connect(context.Background(), &hub.ConnectRequest{}); err == nil {
		t.Fatal("connect without a URL succeeded")
	}
	if err := p.Subscribe(context.Background(), &hub.SubscribeRequest{}); err == nil {
		t.Fatal("subscribe without a URL succeeded")
	}
}
