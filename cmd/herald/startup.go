package main

import (
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/proxy"
	"github.com/heraldhq/herald/tlsconfig"
)

// parts are what serve builds from the configuration before it touches
// the network: `herald config check` builds them too, so that it refuses
// what serve would.
type parts struct {
	verifier *auth.Verifier // nil without token keys
	certs    *tlsconfig.Reloader
	proxy    *proxy.Proxy
}

// buildParts checks that the broker engine is compiled in, reads the key
// and certificate files, fetches the JWK Set and checks the proxy URLs. Its
// errors are *config.Error values naming the section at fault.
func buildParts(cfg config.Config, log *slog.Logger) (*parts, error) {
	if err := checkEngine(cfg.Broker); err != nil {
		return nil, err
	}
	p := &parts{}
	if cfg.Token.Configured() {
		v, err := newVerifier(cfg.Token, log)
		if err != nil {
			return nil, &config.Error{Key: "token", Problem: strings.TrimPrefix(err.Error(), "auth: ")}
		}
		p.verifier = v
	}
	if cfg.Proxy.ConnectURL != "" || cfg.Proxy.SubscribeURL != "" {
		px, err := proxy.New(proxy.Options{ConnectURL: cfg.Proxy.ConnectURL, SubscribeURL: cfg.Proxy.SubscribeURL, Timeout: cfg.Proxy.Timeout})
		if err != nil {
			p.close()
			return nil, &config.Error{Key: "proxy", Problem: strings.TrimPrefix(err.Error(), "proxy: ")}
		}
		p.proxy = px
	}
	if cfg.TLS.Enabled() {
		certs, err := tlsconfig.New(tlsconfig.Options{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			ClientCAFile: cfg.TLS.ClientCAFile, ClientAuth: cfg.TLS.ClientAuth})
		if err != nil {
			p.close()
			return nil, &config.Error{Key: "tls", Problem: strings.TrimPrefix(err.Error(), "tls: ")}
		}
		p.certs = certs
	}
	return p, nil
}

func (p *parts) close() {
	if p.verifier != nil {
		p.verifier.Close()
	}
	if p.proxy != nil {
		p.proxy.CloseIdleConnections()
	}
}

// newVerifier builds the token verifier from the token section.
func newVerifier(t config.Token, log *slog.Logger) (*auth.Verifier, error) {
	opts := auth.Options{
		HMACSecret: []byte(t.HMACSecret),
		JWKSURL:    t.JWKSURL,
		Algorithms: t.Algorithms,
		Issuer:     t.Issuer,
		Audience:   t.Audience,
		Leeway:     t.Leeway,
		Logger:     log,
	}
	if t.HMACSecret == "" {
		opts.HMACSecret = nil
	}
	if t.PublicKeyFile != "" {
		pem, err := os.ReadFile(t.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		opts.PublicKeyPEM = pem
	}
	return auth.New(opts)
}

// served is what the server mounted besides its endpoints, for the
// startup lines.
type served struct {
	demo, admin, metrics, landing bool
}

// logStartup says in one line each what a newcomer or an operator needs to
// know of a server that has just started: the engine, the namespaces, the
// admin UI and the demo, and loudly, what is most likely a mistake.
func logStartup(log *slog.Logger, cfg config.Config, s served) {
	logBroker(log, cfg.Broker)
	if cfg.Dev {
		log.Warn("development mode: anonymous connections, every namespace open to anyone, any origin; never in production")
	}
	names := slices.Sorted(maps.Keys(cfg.Namespaces))
	list := make([]string, len(names))
	for i, name := range names {
		list[i] = describeNamespace(name, cfg.Namespaces[name].Options())
	}
	switch {
	case cfg.Dev && len(list) == 0:
		log.Info("namespaces: every namespace open to anyone, with presence, history and recovery (development mode)")
	case cfg.Dev:
		log.Info("namespaces: as listed, any other open to anyone (development mode)", "namespaces", strings.Join(list, "; "))
	default:
		log.Info("namespaces: as listed, any other refused (error 102)", "namespaces", strings.Join(list, "; "))
	}
	if s.admin {
		log.Info("admin UI on", "url", "/admin/")
	} else {
		log.Info("admin UI off: set HERALD_ADMIN_PASSWORD (16 or more bytes) to turn it on")
	}
	switch {
	case s.demo:
		log.Warn("demo chat on: it hands out a token for any name, never enable it in production", "url", "/demo/", "namespace", cfg.Demo.Namespace)
	case cfg.Demo.Enabled:
		log.Info("demo chat off: it needs token.hmac_secret to sign its tokens")
	default:
		log.Info("demo chat off (on in development mode, or with demo.enabled)")
	}
	if s.landing {
		log.Info("landing page on", "url", "/")
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
}

// logBroker names the engine and where it is, never its credentials.
func logBroker(log *slog.Logger, b config.Broker) {
	switch b.Engine {
	case "redis":
		log.Info("broker: redis", "addrs", strings.Join(b.Redis.Addrs, ","), "cluster", b.Redis.Cluster, "prefix", b.Redis.Prefix)
	case "nats":
		if e := b.NATS.Embedded; e.Enabled {
			log.Info("broker: nats, embedded", "listen", e.Listen, "cluster_listen", e.ClusterListen,
				"peers", strings.Join(e.Peers, ","), "dir", e.Dir, "prefix", b.NATS.Prefix, "replicas", b.NATS.Replicas)
			return
		}
		log.Info("broker: nats", "url", redactURLs(b.NATS.URL), "prefix", b.NATS.Prefix, "replicas", b.NATS.Replicas)
	default:
		log.Info("broker: memory (one node; a restart starts new streams)",
			"max_retained_bytes", b.Memory.MaxRetainedBytes, "max_streams", b.Memory.MaxStreams)
	}
}

// redactURLs hides the passwords of a comma-separated list of URLs.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		} else {
			parts[i] = "(unparsable URL)"
		}
	}
	return strings.Join(parts, ",")
}

// describeNamespace is one namespace's options in a few words:
// `chat (subscribe: authenticated, publish: subscribers, presence,
// join/leave, history 100/1h, recover)`.
func describeNamespace(name string, ns hub.Namespace) string {
	ns.Normalize()
	opts := []string{"subscribe: " + string(ns.AllowSubscribe), "publish: " + string(ns.AllowPublish)}
	if ns.SubscribeProxy {
		opts = append(opts, "subscribe proxy")
	}
	if ns.Presence {
		opts = append(opts, "presence")
	}
	if ns.JoinLeave {
		opts = append(opts, "join/leave")
	}
	if ns.KeepsHistory() {
		opts = append(opts, fmt.Sprintf("history %d/%s", ns.HistorySize, shortDuration(ns.HistoryTTL)))
	}
	if ns.Recover {
		opts = append(opts, "recover")
	}
	if name == "" {
		name = `""`
	}
	return name + " (" + strings.Join(opts, ", ") + ")"
}

// shortDuration drops the zero units time.Duration.String keeps ("1h"
// rather than "1h0m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
