package tlsconfig_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/tlsconfig"
	"github.com/heraldhq/herald/tlsconfig/tlstest"
)

func TestNewErrors(t *testing.T) {
	f := newFixture(t)
	other := f.ca.Server(t, "other")
	otherCert, otherKey := other.Write(t, f.dir, "other")
	garbage := filepath.Join(f.dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(f.dir, "missing.pem")

	cases := []struct {
		name string
		opts tlsconfig.Options
		want string // in the error
	}{
		{"no files", tlsconfig.Options{}, "cert_file and key_file"},
		{"missing cert", tlsconfig.Options{CertFile: missing, KeyFile: f.keyFile}, missing},
		{"missing key", tlsconfig.Options{CertFile: f.certFile, KeyFile: missing}, missing},
		{"garbage cert", tlsconfig.Options{CertFile: garbage, KeyFile: f.keyFile}, garbage},
		{"key and cert switched", tlsconfig.Options{CertFile: f.keyFile, KeyFile: f.certFile}, f.keyFile},
		{"mismatched key", tlsconfig.Options{CertFile: f.certFile, KeyFile: otherKey}, "does not match"},
		{"mismatched key names files", tlsconfig.Options{CertFile: otherCert, KeyFile: f.keyFile}, otherCert},
		{"missing CA", tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require", ClientCAFile: missing}, missing},
		{"garbage CA", tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require", ClientCAFile: garbage}, garbage},
		{"key in CA file", tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "request", ClientCAFile: f.keyFile}, `"PRIVATE KEY", want CERTIFICATE`},
		{"unknown client auth", tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "always"}, `client_auth "always"`},
		{"require without CA", tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require"}, "needs client_ca_file"},
		{"CA without client auth", tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: f.caFile}, `client_auth is "none"`},
	}
	keys := []string{string(f.server.KeyPEM), string(other.KeyPEM)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tlsconfig.New(tc.opts)
			if err == nil {
				t.Fatalf("New succeeded: %v", r)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			for _, k := range keys {
				// Any line of the key's base64 body would be a leak.
				for _, line := range strings.Split(k, "\n")[1:3] {
					if strings.Contains(err.Error(), line) {
						t.Fatalf("error quotes key material: %q", err)
					}
				}
			}
		})
	}
}

func TestExpiredCertificate(t *testing.T) {
	f := newFixture(t)
	expired := f.ca.Expired(t, "stale")
	staleCert, staleKey := expired.Write(t, f.dir, "stale")
	if _, err := tlsconfig.New(tlsconfig.Options{CertFile: staleCert, KeyFile: staleKey}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("New with an expired certificate: %v", err)
	}

	// A renewal that went wrong must not replace a certificate that works.
	r := mustNew(t, tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile})
	expired.Write(t, f.dir, "server")
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), f.certFile) {
		t.Fatalf("Reload with an expired certificate: %v", err)
	}
	if !r.Leaf().Equal(f.server.Cert) {
		t.Fatalf("serving %q after a rejected reload", r.Leaf().Subject.CommonName)
	}
}

func TestServesCertificate(t *testing.T) {
	f := newFixture(t)
	r := mustNew(t, tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile})
	addr := serve(t, r.Config())
	got := mustDial(t, addr, clientConfig(f.ca))
	if !got.leaf.Equal(f.server.Cert) {
		t.Fatalf("served %q, want %q", got.leaf.Subject.CommonName, f.server.Cert.Subject.CommonName)
	}
	if got.peer != "-" {
		t.Fatalf("server saw client %q without client auth", got.peer)
	}
	if !r.Leaf().Equal(f.server.Cert) {
		t.Fatalf("Leaf = %q", r.Leaf().Subject.CommonName)
	}
	if first, second := r.Config(), r.Config(); first != second {
		t.Fatal("Config returns a new value per call")
	}
}

func TestRefusesOldTLS(t *testing.T) {
	f := newFixture(t)
	r := mustNew(t, tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile})
	if v := r.Config().MinVersion; v < tls.VersionTLS12 {
		t.Fatalf("MinVersion %x", v)
	}
	addr := serve(t, r.Config())
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		cfg := clientConfig(f.ca)
		cfg.MinVersion, cfg.MaxVersion = v, v
		if _, err := dial(addr, cfg); err == nil {
			t.Fatalf("%s handshake succeeded", tls.VersionName(v))
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := clientConfig(f.ca)
		cfg.MinVersion, cfg.MaxVersion = v, v
		mustDial(t, addr, cfg)
	}
}

func TestReloadSwapsCertificate(t *testing.T) {
	f := newFixture(t)
	r := mustNew(t, tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile})
	addr := serve(t, r.Config())
	if got := mustDial(t, addr, clientConfig(f.ca)); !got.leaf.Equal(f.server.Cert) {
		t.Fatalf("before reload: served %q", got.leaf.Subject.CommonName)
	}

	next := f.ca.Server(t, "server two")
	next.Write(t, f.dir, "server")
	if got := mustDial(t, addr, clientConfig(f.ca)); !got.leaf.Equal(f.server.Cert) {
		t.Fatal("new files served before Reload")
	}
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := mustDial(t, addr, clientConfig(f.ca)); !got.leaf.Equal(next.Cert) {
		t.Fatalf("after reload: served %q, want %q", got.leaf.Subject.CommonName, next.Cert.Subject.CommonName)
	}
	if !r.Leaf().Equal(next.Cert) {
		t.Fatalf("Leaf = %q after reload", r.Leaf().Subject.CommonName)
	}
}

func TestReloadKeepsOldOnError(t *testing.T) {
	f := newFixture(t)
	clientCA := tlstest.NewCA(t, "client CA")
	alice := clientCA.Client(t, "alice")
	caFile := clientCA.WriteCert(t, f.dir, "clients.crt")
	r := mustNew(t, tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require", ClientCAFile: caFile})
	addr := serve(t, r.Config())
	next := f.ca.Server(t, "server two")

	breakages := []struct {
		name  string
		apply func(t *testing.T)
		want  string
	}{
		{"garbage certificate", func(t *testing.T) {
			os.WriteFile(f.certFile, []byte("-----BEGIN CERTIFICATE-----\nnope\n"), 0o600)
		}, f.certFile},
		{"new certificate, old key", func(t *testing.T) {
			os.WriteFile(f.certFile, next.CertPEM, 0o600)
		}, "does not match"},
		{"key removed", func(t *testing.T) {
			os.WriteFile(f.certFile, next.CertPEM, 0o600)
			os.Remove(f.keyFile)
		}, f.keyFile},
		{"garbage CA", func(t *testing.T) {
			next.Write(t, f.dir, "server")
			os.WriteFile(caFile, []byte("garbage"), 0o600)
		}, caFile},
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			b.apply(t)
			err := r.Reload()
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("Reload error %v, want one mentioning %q", err, b.want)
			}
			got := mustDial(t, addr, clientConfig(f.ca, alice))
			if !got.leaf.Equal(f.server.Cert) {
				t.Fatalf("served %q after a failed reload", got.leaf.Subject.CommonName)
			}
			if got.peer != "alice" {
				t.Fatalf("client CA lost after a failed reload: server saw %q", got.peer)
			}
		})
	}

	// Once the files are right again, the next reload takes them.
	clientCA.WriteCert(t, f.dir, "clients.crt")
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload after the fix: %v", err)
	}
	if got := mustDial(t, addr, clientConfig(f.ca, alice)); !got.leaf.Equal(next.Cert) {
		t.Fatalf("served %q after the fix", got.leaf.Subject.CommonName)
	}
}

func TestClientAuthModes(t *testing.T) {
	f := newFixture(t)
	clientCA := tlstest.NewCA(t, "client CA")
	strangerCA := tlstest.NewCA(t, "stranger CA")
	alice := clientCA.Client(t, "alice")
	mallory := strangerCA.Client(t, "mallory")
	caFile := clientCA.WriteCert(t, f.dir, "clients.crt")

	cases := []struct {
		mode                    string
		none, stranger, trusted string // what the server saw; "fail" for a refused handshake
	}{
		{"none", "-", "-", "-"},
		{"request", "-", "fail", "alice"},
		{"require", "fail", "fail", "alice"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			opts := tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: tc.mode}
			if tc.mode != "none" {
				opts.ClientCAFile = caFile
			}
			addr := serve(t, mustNew(t, opts).Config())
			for _, c := range []struct {
				name string
				cfg  *tls.Config
				want string
			}{
				{"no certificate", clientConfig(f.ca), tc.none},
				{"stranger's certificate", clientConfig(f.ca, mallory), tc.stranger},
				{"trusted certificate", clientConfig(f.ca, alice), tc.trusted},
			} {
				got, err := dial(addr, c.cfg)
				switch {
				case c.want == "fail" && err == nil:
					t.Errorf("%s: handshake succeeded (server saw %q)", c.name, got.peer)
				case c.want != "fail" && err != nil:
					t.Errorf("%s: %v", c.name, err)
				case c.want != "fail" && got.peer != c.want:
					t.Errorf("%s: server saw %q, want %q", c.name, got.peer, c.want)
				}
			}
		})
	}
}

func TestReloadClientCA(t *testing.T) {
	f := newFixture(t)
	oldCA, newCA := tlstest.NewCA(t, "old client CA"), tlstest.NewCA(t, "new client CA")
	alice, bob := oldCA.Client(t, "alice"), newCA.Client(t, "bob")
	caFile := oldCA.WriteCert(t, f.dir, "clients.crt")
	r := mustNew(t, tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require", ClientCAFile: caFile})
	addr := serve(t, r.Config())

	// Alice keeps a session cache: her resumption must not outlive her CA.
	aliceCfg := clientConfig(f.ca, alice)
	aliceCfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	mustDial(t, addr, aliceCfg)
	if got := mustDial(t, addr, aliceCfg); !got.resume || got.peer != "alice" {
		t.Fatalf("second connection: resumed %v, peer %q", got.resume, got.peer)
	}
	if _, err := dial(addr, clientConfig(f.ca, bob)); err == nil {
		t.Fatal("bob admitted before his CA is trusted")
	}

	newCA.WriteCert(t, f.dir, "clients.crt")
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := mustDial(t, addr, clientConfig(f.ca, bob)); got.peer != "bob" {
		t.Fatalf("server saw %q, want bob", got.peer)
	}
	if got, err := dial(addr, aliceCfg); err == nil {
		t.Fatalf("alice admitted after her CA was removed (resumed %v)", got.resume)
	}
}

// TestConcurrentReloads runs handshakes while the certificate flips back
// and forth; under -race it checks the swap, and every handshake must see
// one whole, valid generation.
func TestConcurrentReloads(t *testing.T) {
	f := newFixture(t)
	clientCA := tlstest.NewCA(t, "client CA")
	alice := clientCA.Client(t, "alice")
	caFile := clientCA.WriteCert(t, f.dir, "clients.crt")
	r := mustNew(t, tlsconfig.Options{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "request", ClientCAFile: caFile})
	addr := serve(t, r.Config())
	gens := []tlstest.Pair{f.server, f.ca.Server(t, "server two")}

	stop := make(chan struct{})
	var reloader sync.WaitGroup
	reloader.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			gens[i%2].Write(t, f.dir, "server")
			if err := r.Reload(); err != nil {
				// Cert and key are two renames: a reload between them
				// must fail and keep the previous pair.
				if !strings.Contains(err.Error(), "does not match") {
					t.Errorf("Reload: %v", err)
				}
			}
			_ = r.Leaf()
		}
	})

	var clients sync.WaitGroup
	for range 8 {
		clients.Go(func() {
			for range 10 {
				got, err := dial(addr, clientConfig(f.ca, alice))
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				if !got.leaf.Equal(gens[0].Cert) && !got.leaf.Equal(gens[1].Cert) {
					t.Errorf("served unknown certificate %q", got.leaf.Subject.CommonName)
				}
				if got.peer != "alice" {
					t.Errorf("server saw %q", got.peer)
				}
			}
		})
	}
	clients.Wait()
	close(stop)
	reloader.Wait()
}
