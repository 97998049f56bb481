package tlsconfig_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/tlsconfig"
	"github.com/heraldhq/herald/tlsconfig/tlstest"
)

// fixture is a CA, a server certificate from it and the files of both in
// a temporary directory.
type fixture struct {
	dir      string
	ca       *tlstest.CA
	server   tlstest.Pair
	certFile string
	keyFile  string
	caFile   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), ca: tlstest.NewCA(t, "test CA")}
	f.server = f.ca.Server(t, "server one")
	f.certFile, f.keyFile = f.server.Write(t, f.dir, "server")
	f.caFile = f.ca.WriteCert(t, f.dir, "ca.crt")
	return f
}

// serve runs a TLS listener with cfg until the test ends. After its
// handshake each connection answers one line: the common name of the
// client certificate the server verified, or "-" without one.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	tl := tls.NewListener(l, cfg)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					return
				}
				who := "-"
				if chains := tc.ConnectionState().VerifiedChains; len(chains) > 0 {
					who = chains[0][0].Subject.CommonName
				}
				_, _ = tc.Write([]byte(who + "\n"))
				// Wait for the client to hang up so it can read the line.
				_, _ = tc.Read(make([]byte, 1))
			})
		}
	})
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

// result is what a client saw of one connection.
type result struct {
	leaf   *x509.Certificate // the server's certificate
	peer   string            // the client the server verified, "-" for none
	resume bool              // the session was resumed
}

// dial completes a handshake with the server at addr and reads its line.
// With TLS 1.3 a refused client certificate only shows on that read.
func dial(addr string, cfg *tls.Config) (result, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return result{}, err
	}
	st := c.ConnectionState()
	return result{leaf: st.PeerCertificates[0], peer: strings.TrimSpace(line), resume: st.DidResume}, nil
}

// mustDial is dial that fails the test on error.
func mustDial(t *testing.T, addr string, cfg *tls.Config) result {
	t.Helper()
	r, err := dial(addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return r
}

// clientConfig trusts ca and presents cert when given. It presents it
// whatever CAs the server names: a Go client would otherwise keep a
// stranger's certificate to itself, and the server's check would go
// untested.
func clientConfig(ca *tlstest.CA, cert ...tlstest.Pair) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}
	if len(cert) > 0 {
		c := cert[0].TLS
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return cfg
}

func mustNew(t *testing.T, opts tlsconfig.Options) *tlsconfig.Reloader {
	t.Helper()
	r, err := tlsconfig.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}
