package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Client authentication modes for Options.ClientAuth.
const (
	ClientAuthNone    = "none"    // no client certificate asked for
	ClientAuthRequest = "request" // verified against the client CA when given
	ClientAuthRequire = "require" // a valid client certificate is required
)

// Options names the files of the listener's TLS configuration.
type Options struct {
	// CertFile is the PEM certificate chain served, leaf first. Required;
	// an expired leaf is refused, at New as at Reload.
	CertFile string
	// KeyFile is the PEM private key of the leaf. Required.
	KeyFile string
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates. Required when ClientAuth is "request" or "require",
	// refused otherwise (a CA that checks nothing is a mistake).
	ClientCAFile string
	// ClientAuth is "none" (default, also ""), "request" (verify a client
	// certificate if the client sends one) or "require" (refuse a
	// handshake without a valid one).
	ClientAuth string
}

// Reloader holds the listener's certificate and client CA and swaps them on
// Reload. Its methods are safe for concurrent use.
type Reloader struct {
	opts     Options
	auth     tls.ClientAuthType
	reloadMu sync.Mutex // one Reload reads the files at a time
	state    atomic.Pointer[state]
	config   *tls.Config
}

// state is one generation of loaded files, swapped whole so a handshake
// never pairs a new certificate with an old CA or the reverse.
type state struct {
	cert *tls.Certificate
	// conf is what GetConfigForClient hands to handshakes: it carries the
	// generation's client CA pool.
	conf *tls.Config
}

// New loads and checks the files opts names.
func New(opts Options) (*Reloader, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("tls: cert_file and key_file are both required")
	}
	r := &Reloader{opts: opts}
	switch opts.ClientAuth {
	case "", ClientAuthNone:
		r.auth = tls.NoClientCert
		if opts.ClientCAFile != "" {
			return nil, errors.New(`tls: client_ca_file is set but client_auth is "none"; set client_auth to "request" or "require"`)
		}
	case ClientAuthRequest:
		r.auth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		r.auth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf(`tls: client_auth %q: want "none", "request" or "require"`, opts.ClientAuth)
	}
	if r.auth != tls.NoClientCert && opts.ClientCAFile == "" {
		return nil, fmt.Errorf("tls: client_auth %q needs client_ca_file", opts.ClientAuth)
	}
	st, err := r.load()
	if err != nil {
		return nil, err
	}
	r.state.Store(st)
	r.config = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// WebSocket upgrades need HTTP/1.1; say so rather than leave it
		// to the absence of ALPN.
		NextProtos:         []string{"http/1.1"},
		ClientAuth:         r.auth,
		GetCertificate:     r.getCertificate,
		GetConfigForClient: r.getConfigForClient,
	}
	return r, nil
}

// Config returns the configuration to serve with, e.g.
// tls.NewListener(l, r.Config()). Every call returns the same value, which
// follows reloads; the caller must not modify it.
func (r *Reloader) Config() *tls.Config {
	return r.config
}

// Reload re-reads the certificate, key and client CA. On any error the
// files in service stay in service and the error says which file is at
// fault. Handshakes that start after Reload returns nil use the new files;
// open connections are untouched.
func (r *Reloader) Reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	st, err := r.load()
	if err != nil {
		return err
	}
	r.state.Store(st)
	return nil
}

// Leaf returns the certificate served to new handshakes, for logging its
// subject and expiry after a reload.
func (r *Reloader) Leaf() *x509.Certificate {
	return r.state.Load().cert.Leaf
}

// load reads every file into a new generation.
func (r *Reloader) load() (*state, error) {
	cert, err := loadKeyPair(r.opts.CertFile, r.opts.KeyFile, time.Now())
	if err != nil {
		return nil, err
	}
	st := &state{cert: cert}
	var pool *x509.CertPool
	if r.opts.ClientCAFile != "" {
		if pool, err = loadCAs(r.opts.ClientCAFile); err != nil {
			return nil, err
		}
	}
	st.conf = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		ClientAuth: r.auth,
		ClientCAs:  pool,
		// The generation's own certificate, so a handshake that picked this
		// config serves the matching pair even if a reload lands meanwhile.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil },
	}
	return st, nil
}

func (r *Reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.state.Load().cert, nil
}

func (r *Reloader) getConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return r.state.Load().conf, nil
}
