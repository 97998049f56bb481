package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/admin"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/demo"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/proxy"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/tlsconfig"
)

func serveCommand() *cobra.Command {
	var (
		path    string
		dev     bool
		address string
		pprof   string
		eng     engineFlags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Herald server",
		Long: `Run the Herald server.

By default it runs on an in-memory broker: one node, nothing else to install.
Several nodes behind a load balancer share their channels through Redis
(--broker redis) or NATS (--broker nats); --nats-embedded runs NATS inside
each node, and --cluster-peers joins those into one NATS cluster.

Configuration comes from the YAML file given with --config, then HERALD_*
environment variables (HERALD_ADDRESS, HERALD_TOKEN_HMAC_SECRET,
HERALD_BROKER_ENGINE, HERALD_LIMITS_MAX_MESSAGE_SIZE, ...), then flags.`,
		Example: `  herald serve --dev
  herald serve --config herald.yaml
  HERALD_TOKEN_HMAC_SECRET=... herald serve --address :9000
  herald serve --config herald.yaml --broker redis --redis 10.0.0.5:6379
  herald serve --config herald.yaml --broker nats --nats nats://10.0.0.5:4222
  herald serve --config herald.yaml --nats-embedded --cluster-peers 10.0.0.2:6222,10.0.0.3:6222`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path, os.Environ())
			if err != nil {
				return &exitError{2, err}
			}
			if cmd.Flags().Changed("dev") {
				cfg.Dev = dev
			}
			if address != "" {
				cfg.Address = address
			}
			eng.apply(cmd, &cfg)
			cfg.ApplyDev()
			if cfg.Dev {
				devSecrets(&cfg, cmd.ErrOrStderr())
			}
			if err := cfg.Validate(); err != nil {
				return &exitError{2, err}
			}
			if pprof != "" {
				stop, err := startProfiler(pprof, cmd.ErrOrStderr())
				if err != nil {
					return &exitError{1, err}
				}
				defer stop()
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().BoolVar(&dev, "dev", false, "development mode: anonymous, every namespace open, any origin, echo endpoint, generated API key")
	cmd.Flags().StringVar(&address, "address", "", "listen address (default :8000)")
	cmd.Flags().StringVar(&pprof, "pprof", "", "serve Go profiles (net/http/pprof) at this address, e.g. localhost:6060; off by default")
	eng.register(cmd)
	return cmd
}

// devSecrets fills in what development mode must not leave empty and tells
// the user the generated API key, the one secret they need to use the API.
func devSecrets(cfg *config.Config, w io.Writer) {
	if !cfg.Token.Configured() {
		cfg.Token.HMACSecret = randomHex(32)
		fmt.Fprintln(w, "dev: generated a token secret for this run (set token.hmac_secret to mint tokens)")
	}
	if len(cfg.APIKeys) == 0 {
		key := randomHex(16)
		cfg.APIKeys = []string{key}
		fmt.Fprintf(w, "dev: server API key: %s\n", key)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newLogger returns the process's logger and its level, which the admin UI
// may change while the server runs.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

// hubConfig maps the file's options onto the hub's.
func hubConfig(cfg config.Config, log *slog.Logger) hub.Config {
	return hub.Config{
		Namespaces:               cfg.Namespaces,
		OpenNamespaces:           cfg.Dev,
		Anonymous:                cfg.Anonymous,
		PingInterval:             cfg.PingInterval,
		PongTimeout:              cfg.PongTimeout,
		ConnectTimeout:           cfg.ConnectTimeout,
		PresenceTTL:              cfg.PresenceTTL,
		IdempotencyTTL:           cfg.IdempotencyTTL,
		Inbox:                    broker.StreamOptions{Size: cfg.Inbox.Size, TTL: cfg.Inbox.TTL},
		RefreshNotice:            cfg.Token.RefreshNotice,
		MaxConnectionsPerUser:    cfg.Limits.MaxConnectionsPerUser,
		MaxChannelsPerConnection: cfg.Limits.MaxChannelsPerConnection,
		CommandRate:              cfg.Limits.CommandRate,
		CommandBurst:             cfg.Limits.CommandBurst,
		PublishRate:              cfg.Limits.PublishRate,
		PublishBurst:             cfg.Limits.PublishBurst,
		ReadRate:                 cfg.Limits.ReadRate,
		ReadBurst:                cfg.Limits.ReadBurst,
		RateLimitStrikes:         cfg.Limits.RateLimitStrikes,
		MaxFrameCommands:         cfg.Limits.MaxFrameCommands,
		MaxDataDepth:             cfg.Limits.MaxDataDepth,
		MaxPresenceMembers:       cfg.Limits.MaxPresenceMembers,
		WriteQueueMessages:       cfg.Limits.WriteQueueMessages,
		WriteQueueBytes:          cfg.Limits.WriteQueueBytes,
		MaxOutgoingBytes:         cfg.Limits.MaxOutgoingBytes,
		MaxConcurrentCatchups:    cfg.Limits.MaxConcurrentCatchups,
		NewChannelQuota:          cfg.Limits.MaxNewChannels,
		NewChannelInterval:       cfg.Limits.NewChannelsInterval,
		NewRecipientQuota:        cfg.Inbox.MaxNewRecipients,
		NewRecipientInterval:     cfg.Inbox.NewRecipientsInterval,
		InboxPerSender:           cfg.Inbox.MaxPerSender,
		JoinLeaveRate:            cfg.Limits.JoinLeaveRate,
		JoinLeaveBurst:           cfg.Limits.JoinLeaveBurst,
		NodeName:                 cfg.NodeName,
		Version:                  version,
		Logger:                   log,
	}
}

// serverConfig maps the file's options onto the server's.
func serverConfig(cfg config.Config, log *slog.Logger) server.Config {
	var nets []netip.Prefix
	for _, n := range cfg.APIAllowedNets {
		p, _ := config.ParseNet(n) // checked by Validate
		nets = append(nets, p)
	}
	var forward []string
	if cfg.Proxy.ConnectURL != "" {
		forward = cfg.Proxy.ForwardHeaders
	}
	return server.Config{
		AllowedOrigins:          cfg.AllowedOrigins,
		EchoEndpoint:            cfg.EchoEndpoint,
		MaxMessageSize:          cfg.Limits.MaxMessageSize,
		MaxConnections:          cfg.Limits.MaxConnections,
		MaxConnectionsPerIP:     cfg.Limits.MaxConnectionsPerIP,
		ConnectRatePerIP:        cfg.Limits.ConnectRatePerIP,
		ConnectBurstPerIP:       cfg.Limits.ConnectBurstPerIP,
		MaxHTTPConnections:      cfg.Limits.MaxHTTPConnections,
		MaxHTTPConnectionsPerIP: cfg.Limits.MaxHTTPConnectionsPerIP,
		ConnectHeaders:          forward,
		ClientCertUser:          cfg.TLS.ClientCertUser,
		APIKeys:                 cfg.APIKeys,
		APIAllowedNets:          nets,
		APIBodySize:             cfg.Limits.APIBodySize,
		ReadHeaderTimeout:       cfg.Limits.ReadHeaderTimeout,
		RequestBodyTimeout:      cfg.Limits.RequestBodyTimeout,
		HandshakeTimeout:        cfg.Limits.HandshakeTimeout,
		WriteTimeout:            cfg.Limits.WriteTimeout,
		// /echo closes silent connections as the hub closes /ws clients
		// that never connect or stop answering pings.
		EchoConnectTimeout: cfg.ConnectTimeout,
		EchoIdleTimeout:    cfg.PingInterval + cfg.PongTimeout,
		Logger:             log,
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

// reloadCertificates re-reads the TLS files on SIGHUP; a broken new set
// leaves the current one in place.
func reloadCertificates(certs *tlsconfig.Reloader, log *slog.Logger) {
	if certs == nil {
		log.Info("SIGHUP: no TLS configured, nothing to reload")
		return
	}
	if err := certs.Reload(); err != nil {
		log.Error("SIGHUP: TLS files not reloaded, keeping the current ones", "err", err)
		return
	}
	log.Info("SIGHUP: TLS certificate reloaded", "subject", certs.Leaf().Subject.String(), "expires", certs.Leaf().NotAfter)
}

// serve runs the server until SIGINT or SIGTERM, then drains it. A second
// signal exits at once. SIGHUP reloads the TLS certificate.
func serve(ctx context.Context, cfg config.Config, logOut io.Writer) error {
	log, level := newLogger(cfg.Log, logOut)
	if cfg.NodeName == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(cfg.Address)
		cfg.NodeName = host + ":" + port
	}
	b, err := newBroker(cfg, log)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	defer b.Close()
	hcfg := hubConfig(cfg, log)
	var reg *prometheus.Registry
	var m *metrics.Metrics
	if cfg.Metrics.Enabled {
		bi, _ := debug.ReadBuildInfo()
		info := readBuildInfo(version, bi)
		reg = metrics.NewRegistry()
		m = metrics.New(reg, metrics.BuildInfo{Version: info.Version, Commit: info.Commit})
		b = m.InstrumentBroker(b, cfg.Broker.Engine)
		hcfg.Observer = m
	}
	var tokens hub.TokenVerifier
	if cfg.Token.Configured() {
		v, err := newVerifier(cfg.Token, log)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		defer v.Close()
		tokens = v
	}
	if cfg.Proxy.ConnectURL != "" || cfg.Proxy.SubscribeURL != "" {
		p, err := proxy.New(proxy.Options{ConnectURL: cfg.Proxy.ConnectURL, SubscribeURL: cfg.Proxy.SubscribeURL, Timeout: cfg.Proxy.Timeout})
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		defer p.CloseIdleConnections()
		hcfg.ConnectProxy, hcfg.SubscribeProxy = p.ConnectProxy(), p.SubscribeProxy()
	}
	var certs *tlsconfig.Reloader
	if cfg.TLS.Enabled() {
		certs, err = tlsconfig.New(tlsconfig.Options{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			ClientCAFile: cfg.TLS.ClientCAFile, ClientAuth: cfg.TLS.ClientAuth})
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
	}
	h := hub.New(hcfg, b, tokens)
	if err := h.Run(ctx); err != nil {
		return err
	}
	scfg := serverConfig(cfg, log)
	scfg.Pages = make(map[string]http.Handler)
	if m != nil {
		if err := m.WatchHub(h); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		scfg.Observer = m
		scfg.Pages["/metrics"] = metrics.Handler(reg)
	}
	// Validate requires the secret, but for dev mode, which generates one
	// unless tokens are verified by public keys only.
	if cfg.Demo.Enabled && cfg.Token.HMACSecret != "" {
		d, err := demo.New(demo.Options{TokenSecret: []byte(cfg.Token.HMACSecret), Namespace: cfg.Demo.Namespace})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		scfg.Pages[demo.Path] = d
		log.Warn("the demo chat on /demo/ hands out a token for any name: never enable it in production")
	}
	if cfg.Admin.Password != "" {
		a, err := admin.New(admin.Options{Hub: h, Password: cfg.Admin.Password, SecureCookie: cfg.Admin.SecureCookie, LevelVar: level, Logger: log})
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		scfg.Pages[admin.Prefix] = a
	}
	srv := server.New(scfg, h)

	l, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return err
	}
	if certs != nil {
		l = tls.NewListener(l, certs.Config())
	}
	log.Info("herald listening", "address", l.Addr().String(), "tls", certs != nil, "version", version, "dev", cfg.Dev)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

wait:
	for {
		select {
		case err := <-served:
			return err
		case <-hup:
			reloadCertificates(certs, log)
		case sig := <-sigs:
			log.Info("shutting down", "signal", sig.String(), "timeout", cfg.ShutdownTimeout)
			break wait
		}
	}
	go func() {
		<-sigs
		log.Warn("second signal: exiting now")
		os.Exit(1)
	}()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	if err := <-served; err != nil && !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
