package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/tlsconfig"
	"github.com/heraldhq/herald/tlsconfig/tlstest"
)

// tlsFixture is a Herald server behind a TLS listener built from files in
// a temporary directory, the way cmd/herald builds it. heraldtest.Start
// listens in plain TCP, so the server is assembled here.
type tlsFixture struct {
	dir      string
	ca       *tlstest.CA // signs the server certificate
	server   tlstest.Pair
	reloader *tlsconfig.Reloader
	addr     string
}

// tlsSetup says how to configure the server's TLS and HTTP sides.
type tlsSetup struct {
	clientAuth string
	clientCA   *tlstest.CA
	server     server.Config
}

func startTLS(t *testing.T, setup tlsSetup) *tlsFixture {
	t.Helper()
	f := &tlsFixture{dir: t.TempDir(), ca: tlstest.NewCA(t, "server CA")}
	f.server = f.ca.Server(t, "herald one")
	opts := tlsconfig.Options{ClientAuth: setup.clientAuth}
	opts.CertFile, opts.KeyFile = f.server.Write(t, f.dir, "server")
	if setup.clientCA != nil {
		opts.ClientCAFile = setup.clientCA.WriteCert(t, f.dir, "clients.crt")
	}
	r, err := tlsconfig.New(opts)
	if err != nil {
		t.Fatalf("tlsconfig: %v", err)
	}
	f.reloader = r

	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	h := hub.New(hub.Config{Namespaces: ht.DefaultNamespaces(), Inbox: inboxOpts}, b, auth.NewHMACVerifier([]byte(ht.Secret)))
	if err := h.Run(context.Background()); err != nil {
		t.Fatalf("hub run: %v", err)
	}
	srv := server.New(setup.server, h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tls.NewListener(l, r.Config())) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ht.Shutdown(ctx, srv, h); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return f
}

func (f *tlsFixture) wsURL() string { return "wss://" + f.addr + "/ws" }

// wssClient is how one test client reaches the server: it trusts the
// server CA, presents cert when one is given (whatever CAs the server
// names, so a stranger's certificate reaches the server's check), and
// records the server certificate of its latest handshake.
type wssClient struct {
	opts *websocket.DialOptions
	tls  *tls.Config
	leaf atomic.Pointer[x509.Certificate]
}

func newWSSClient(t *testing.T, f *tlsFixture, cert ...tlstest.Pair) *wssClient {
	t.Helper()
	c := &wssClient{}
	c.tls = &tls.Config{RootCAs: f.ca.Pool, ServerName: "localhost"}
	if len(cert) > 0 {
		p := cert[0].TLS
		c.tls.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &p, nil }
	}
	c.tls.VerifyConnection = func(cs tls.ConnectionState) error {
		c.leaf.Store(cs.PeerCertificates[0])
		return nil
	}
	tr := &http.Transport{TLSClientConfig: c.tls}
	t.Cleanup(tr.CloseIdleConnections)
	c.opts = &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}
	return c
}

// dial opens a WebSocket and fails the test if it cannot.
func (c *wssClient) dial(t *testing.T, f *tlsFixture) *ht.Client {
	t.Helper()
	return ht.Dial(t, f.wsURL(), c.opts)
}

// dialErr tries to open a WebSocket and returns why it could not.
func (c *wssClient) dialErr(t *testing.T, f *tlsFixture) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, f.wsURL(), c.opts)
	if err == nil {
		conn.CloseNow()
	}
	return err
}

func connectOK(t *testing.T, c *ht.Client, token string) map[string]any {
	t.Helper()
	cmd := map[string]any{"type": "connect"}
	if token != "" {
		cmd["token"] = token
	}
	r := c.Call(cmd)
	if r.ErrorCode() != 0 {
		t.Fatalf("connect: %v", r)
	}
	return r.Result()
}

func subscribeOK(t *testing.T, c *ht.Client, channel string) {
	t.Helper()
	if r := c.Call(map[string]any{"type": "subscribe", "channel": channel}); r.ErrorCode() != 0 {
		t.Fatalf("subscribe %s: %v", channel, r)
	}
}

func publishOK(t *testing.T, c *ht.Client, channel string, data any) {
	t.Helper()
	if r := c.Call(map[string]any{"type": "publish", "channel": channel, "data": data}); r.ErrorCode() != 0 {
		t.Fatalf("publish %s: %v", channel, r)
	}
}

func TestTLSPubSub(t *testing.T) {
	f := startTLS(t, tlsSetup{})
	cl := newWSSClient(t, f)
	c := cl.dial(t, f)
	if res := connectOK(t, c, ht.Token(t, "bob", nil)); res["user"] != "bob" {
		t.Fatalf("connect result %v", res)
	}
	subscribeOK(t, c, "chat:tls")
	publishOK(t, c, "chat:tls", "over tls")
	if m := c.Messages("chat:tls", 1)[0]; m["data"] != "over tls" {
		t.Fatalf("message %v", m)
	}

	// The rest of the listener speaks TLS too; plain HTTP gets nothing.
	resp, err := cl.opts.HTTPClient.Get("https://" + f.addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz over https: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	if line := rawHTTP(t, f.addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); strings.Contains(line, "200") {
		t.Fatalf("plain HTTP served on the TLS listener: %q", line)
	}
}

func TestTLSReloadKeepsConnections(t *testing.T) {
	f := startTLS(t, tlsSetup{})
	oldClient := newWSSClient(t, f)
	a := oldClient.dial(t, f)
	if !oldClient.leaf.Load().Equal(f.server.Cert) {
		t.Fatal("first connection did not see the first certificate")
	}
	connectOK(t, a, ht.Token(t, "alice", nil))
	subscribeOK(t, a, "chat:reload")

	next := f.ca.Server(t, "herald two")
	next.Write(t, f.dir, "server")
	if err := f.reloader.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	// The open connection goes on as if nothing happened.
	publishOK(t, a, "chat:reload", "before b")
	if m := a.Messages("chat:reload", 1)[0]; m["data"] != "before b" {
		t.Fatalf("message %v", m)
	}

	// A new connection gets the new certificate, and both talk.
	newClient := newWSSClient(t, f)
	b := newClient.dial(t, f)
	if got := newClient.leaf.Load(); !got.Equal(next.Cert) {
		t.Fatalf("new connection saw %q, want %q", got.Subject.CommonName, next.Cert.Subject.CommonName)
	}
	connectOK(t, b, ht.Token(t, "bob", nil))
	subscribeOK(t, b, "chat:reload")
	publishOK(t, b, "chat:reload", "from b")
	publishOK(t, a, "chat:reload", "from a")
	for _, c := range []*ht.Client{a, b} {
		ms := c.Messages("chat:reload", 2)
		if ms[0]["data"] != "from b" || ms[1]["data"] != "from a" {
			t.Fatalf("messages %v", ms)
		}
	}
}

func TestTLSRefusesOldVersions(t *testing.T) {
	f := startTLS(t, tlsSetup{})
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12} {
		cfg := &tls.Config{RootCAs: f.ca.Pool, ServerName: "localhost", MinVersion: v, MaxVersion: v}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", f.addr, cfg)
		if v < tls.VersionTLS12 {
			if err == nil {
				conn.Close()
				t.Fatalf("%s handshake succeeded", tls.VersionName(v))
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tls.VersionName(v), err)
		}
		conn.Close()
	}
	// The server is unharmed by the refusals.
	c := newWSSClient(t, f).dial(t, f)
	connectOK(t, c, ht.Token(t, "bob", nil))
}

func TestTLSClientCertRequired(t *testing.T) {
	clientCA, stranger := tlstest.NewCA(t, "client CA"), tlstest.NewCA(t, "stranger CA")
	f := startTLS(t, tlsSetup{clientAuth: "require", clientCA: clientCA})

	if err := newWSSClient(t, f).dialErr(t, f); err == nil {
		t.Fatal("connected without a client certificate")
	}
	if err := newWSSClient(t, f, stranger.Client(t, "mallory")).dialErr(t, f); err == nil {
		t.Fatal("connected with a certificate from another CA")
	}
	c := newWSSClient(t, f, clientCA.Client(t, "alice")).dial(t, f)
	// Without ClientCertUser the certificate admits the connection but a
	// token still names the user.
	if res := connectOK(t, c, ht.Token(t, "bob", nil)); res["user"] != "bob" {
		t.Fatalf("connect result %v", res)
	}
	subscribeOK(t, c, "chat:mtls")
	publishOK(t, c, "chat:mtls", 1)
	c.Messages("chat:mtls", 1)
}

func TestTLSClientCertUser(t *testing.T) {
	clientCA := tlstest.NewCA(t, "client CA")
	alice := clientCA.Client(t, "alice")

	t.Run("on", func(t *testing.T) {
		f := startTLS(t, tlsSetup{clientAuth: "request", clientCA: clientCA, server: server.Config{ClientCertUser: true}})
		c := newWSSClient(t, f, alice).dial(t, f)
		if res := connectOK(t, c, ""); res["user"] != "alice" {
			t.Fatalf("connect result %v, want user alice", res)
		}
		subscribeOK(t, c, "chat:cert")
		publishOK(t, c, "chat:cert", "hi")
		c.Messages("chat:cert", 1)

		// With client_auth request, a client without a certificate gets in
		// the handshake but not anonymously past connect.
		anon := newWSSClient(t, f).dial(t, f)
		r := anon.Call(map[string]any{"type": "connect"})
		if r.ErrorCode() != 101 {
			t.Fatalf("connect without certificate or token: %v", r)
		}
		anon.ExpectClose(4501)
	})

	t.Run("off", func(t *testing.T) {
		f := startTLS(t, tlsSetup{clientAuth: "require", clientCA: clientCA})
		c := newWSSClient(t, f, alice).dial(t, f)
		r := c.Call(map[string]any{"type": "connect"})
		if r.ErrorCode() != 101 {
			t.Fatalf("connect with a certificate, no token, ClientCertUser off: %v", r)
		}
		c.ExpectClose(4501)
	})
}
