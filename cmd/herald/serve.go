package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/admin"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/demo"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/landing"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/server/tcp"
	"github.com/heraldhq/herald/tlsconfig"
)

// serveFlags are serve's command-line flags.
type serveFlags struct {
	path    string
	dev     bool
	address string
	pprof   string
	eng     engineFlags
}

func serveCommand() *cobra.Command {
	cmd, _ := newServeCommand()
	return cmd
}

// newServeCommand returns the serve command and the flags it parses into,
// for tests that build its configuration without running it.
func newServeCommand() (*cobra.Command, *serveFlags) {
	f := &serveFlags{}
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
HERALD_BROKER_ENGINE, HERALD_LIMITS_MAX_MESSAGE_SIZE, ...), then flags.
Without a file the server runs with the defaults "herald config init" writes.

--dev is for trying Herald on your machine: it listens on 127.0.0.1:8000
unless --address says otherwise, allows anonymous connections, opens every
namespace, serves a landing page on /, and prints a generated server API key
as a line to paste (export HERALD_API_KEY=...), also kept in
herald-data/dev-api-key.`,
		Example: `  herald serve --dev
  herald serve --config herald.yaml
  HERALD_TOKEN_HMAC_SECRET=... herald serve --address :9000
  herald serve --config herald.yaml --broker redis --redis 10.0.0.5:6379
  herald serve --config herald.yaml --broker nats --nats nats://10.0.0.5:4222
  herald serve --config herald.yaml --nats-embedded --cluster-peers 10.0.0.2:6222,10.0.0.3:6222`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, dev, err := f.load(cmd, os.Environ())
			if err != nil {
				return &exitError{2, err}
			}
			if f.pprof != "" {
				stop, err := startProfiler(f.pprof, cmd.ErrOrStderr())
				if err != nil {
					return &exitError{1, err}
				}
				defer stop()
			}
			err = serve(cmd.Context(), cfg, dev, cmd.ErrOrStderr())
			if ce := (*config.Error)(nil); errors.As(err, &ce) {
				return &exitError{2, err}
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&f.path, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().BoolVar(&f.dev, "dev", false, "development mode, on 127.0.0.1:8000 unless --address: anonymous, every namespace open, any origin, echo endpoint, demo, landing page, generated API key")
	cmd.Flags().StringVar(&f.address, "address", "", "listen address (default :8000; 127.0.0.1:8000 with --dev)")
	cmd.Flags().StringVar(&f.pprof, "pprof", "", "serve Go profiles (net/http/pprof) at this address, e.g. localhost:6060; off by default")
	f.eng.register(cmd)
	return cmd, f
}

// load builds the configuration serve runs with: the file, the
// environment, the flags, what development mode implies (the flag
// --address overrides its loopback address), and in development mode a
// token secret and an API key when there are none. It prints nothing:
// until the server listens, nothing may suggest that it does.
func (f *serveFlags) load(cmd *cobra.Command, env []string) (config.Config, *devSecrets, error) {
	cfg, err := config.Load(f.path, env)
	if err != nil {
		return cfg, nil, err
	}
	if cmd.Flags().Changed("dev") {
		cfg.Dev = f.dev
	}
	f.eng.apply(cmd, &cfg)
	cfg.ApplyDev()
	if cmd.Flags().Changed("address") {
		cfg.Address = f.address
	}
	var dev *devSecrets
	if cfg.Dev {
		dev = fillDevSecrets(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	return cfg, dev, nil
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
		Namespaces:               cfg.HubNamespaces(),
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
		MaxPendingRoutes:         cfg.Limits.MaxPendingRoutes,
		RouteTimeout:             cfg.Limits.RouteTimeout,
		NewChannelQuota:          cfg.Limits.MaxNewChannels,
		NewChannelInterval:       cfg.Limits.NewChannelsInterval,
		NewRecipientQuota:        cfg.Inbox.MaxNewRecipients,
		NewRecipientInterval:     cfg.Inbox.NewRecipientsInterval,
		InboxPerSender:           cfg.Inbox.MaxPerSender,
		JoinLeaveRate:            cfg.Limits.JoinLeaveRate,
		JoinLeaveBurst:           cfg.Limits.JoinLeaveBurst,
		NodeName:                 cfg.NodeName,
		Version:                  currentBuild().Version,
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
		Compression:             cfg.Compression.Enabled,
		CompressionThreshold:    compressionThreshold(cfg.Compression.Threshold),
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
		MaxFrameCommands:        cfg.Limits.MaxFrameCommands,
		StreamQueueLength:       cfg.Limits.StreamQueueLength,
		// /echo closes silent connections as the hub closes /ws clients
		// that never connect or stop answering pings.
		EchoConnectTimeout: cfg.ConnectTimeout,
		EchoIdleTimeout:    cfg.PingInterval + cfg.PongTimeout,
		Logger:             log,
	}
}

// compressionThreshold maps the file's threshold onto the server's, where
// zero takes the default and a negative value compresses everything.
func compressionThreshold(t int) int {
	if t <= 0 {
		return -1
	}
	return t
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
// signal exits at once. SIGHUP reloads the TLS certificate. dev holds what
// development mode generated (nil outside it). Everything that can fail
// does before the listener is bound; only then does serve say that it
// listens, what it serves, and in development mode the API key.
func serve(ctx context.Context, cfg config.Config, dev *devSecrets, logOut io.Writer) error {
	log, level := newLogger(cfg.Log, logOut)
	if cfg.NodeName == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(cfg.Address)
		cfg.NodeName = host + ":" + port
	}
	build := currentBuild()
	p, err := buildParts(cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	b, err := newBroker(cfg, log)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	defer b.Close()
	hcfg := hubConfig(cfg, log)
	var reg *prometheus.Registry
	var m *metrics.Metrics
	if cfg.Metrics.Enabled {
		reg = metrics.NewRegistry()
		m = metrics.New(reg, metrics.BuildInfo{Version: build.Version, Commit: build.Commit})
		b = m.InstrumentBroker(b, cfg.Broker.Engine)
		hcfg.Observer = m
	}
	var tokens hub.TokenVerifier
	if p.verifier != nil { // not a typed nil in the interface
		tokens = p.verifier
	}
	if p.proxy != nil {
		hcfg.ConnectProxy, hcfg.SubscribeProxy = p.proxy.ConnectProxy(), p.proxy.SubscribeProxy()
	}
	h := hub.New(hcfg, b, tokens)
	cons, err := newConsumers(cfg.Consumers, h, m, log)
	if err != nil {
		return err
	}
	if err := h.Run(ctx); err != nil {
		return err
	}
	// serve owns the hub, and the server once there is one: they stop on
	// every way out of here, errors included, before the broker closes.
	var srv *server.Server
	var tsrv *tcp.Server
	drained := false
	defer func() {
		if drained {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := errors.Join(cons.stop(sctx), drain(sctx, srv, tsrv, h)); err != nil {
			log.Warn("shutdown incomplete", "err", err)
		}
	}()
	scfg := serverConfig(cfg, log)
	scfg.Pages = make(map[string]http.Handler)
	var on served
	if m != nil {
		if err := m.WatchHub(h); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		scfg.Observer = m
		scfg.Pages["/metrics"] = metrics.Handler(reg)
		on.metrics = true
	}
	// Validate requires the secret, but for dev mode, which generates one
	// unless tokens are verified by public keys only.
	if cfg.Demo.Enabled && cfg.Token.HMACSecret != "" {
		d, err := demo.New(demo.Options{TokenSecret: []byte(cfg.Token.HMACSecret), Namespace: cfg.Demo.Namespace})
		if err != nil {
			return &config.Error{Key: "demo", Problem: strings.TrimPrefix(err.Error(), "demo: ")}
		}
		scfg.Pages[demo.Path] = d
		on.demo = true
	}
	if cfg.Admin.Password != "" {
		a, err := admin.New(admin.Options{Hub: h, Password: cfg.Admin.Password, SecureCookie: cfg.Admin.SecureCookie, LevelVar: level, Logger: log})
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		scfg.Pages[admin.Prefix] = a
		on.admin = true
	}
	if dev != nil {
		scfg.Pages[landing.Pattern] = landing.New(landing.Options{
			Demo: on.demo, Admin: on.admin, Metrics: on.metrics, KeyFile: dev.KeyFile, Version: build.Version,
		})
		on.landing = true
	}
	srv = server.New(scfg, h)

	l, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return err
	}
	if p.certs != nil {
		l = tls.NewListener(l, p.certs.Config())
	}
	var tl net.Listener
	if cfg.RawTCP.Address != "" {
		if tl, err = net.Listen("tcp", cfg.RawTCP.Address); err != nil {
			l.Close()
			return fmt.Errorf("tcp listener: %w", err)
		}
		tsrv = tcp.New(tcpConfig(cfg, srv, p.certs, log), h)
	}
	log.Info("herald listening", "address", l.Addr().String(), "tls", p.certs != nil, "version", build.Version, "dev", cfg.Dev)
	if tl != nil {
		log.Info("herald listening for raw TCP clients", "address", tl.Addr().String(), "tls", cfg.RawTCP.UseTLS)
	}
	logStartup(log, cfg, on)
	if dev != nil {
		if dev.Secret {
			log.Info("development mode generated a token secret for this run: set HERALD_TOKEN_HMAC_SECRET to mint tokens with herald token")
		}
		if err := devBanner(logOut, l.Addr(), p.certs != nil, dev); err != nil {
			log.Warn("the server API key was not kept in a file", "file", dev.KeyFile, "err", err)
		}
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	cons.start()
	tcpServed := make(chan error, 1)
	if tsrv != nil {
		go func() { tcpServed <- tsrv.Serve(tl) }()
	}

wait:
	for {
		select {
		case err := <-served:
			return err
		case err := <-tcpServed:
			return fmt.Errorf("tcp listener: %w", err)
		case <-hup:
			reloadCertificates(p.certs, log)
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
	drained = true
	// The consumers stop first: what they publish after the hub began
	// draining would reach no client of this node.
	if err := errors.Join(cons.stop(sctx), drain(sctx, srv, tsrv, h)); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	if err := <-served; err != nil && !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// drain stops the servers (those there are) and the hub side by side:
// the servers stop taking connections and requests and wait for their
// connections' readers, which end as the hub disconnects their clients
// with 1001 and closes them. All are bounded by ctx.
func drain(ctx context.Context, srv *server.Server, tsrv *tcp.Server, h *hub.Hub) error {
	srvErr := make(chan error, 2)
	if srv != nil {
		go func() { srvErr <- srv.Shutdown(ctx) }()
	} else {
		srvErr <- nil
	}
	if tsrv != nil {
		go func() { srvErr <- tsrv.Shutdown(ctx) }()
	} else {
		srvErr <- nil
	}
	return errors.Join(h.Shutdown(ctx), <-srvErr, <-srvErr)
}

// tcpConfig maps the file's options onto the TCP listener's: the limits
// are the WebSocket endpoint's, admitted by srv, and TLS is the tls
// section's, reloaded with it.
func tcpConfig(cfg config.Config, srv *server.Server, certs *tlsconfig.Reloader, log *slog.Logger) tcp.Config {
	tc := tcp.Config{
		Gate:             srv,
		ClientCertUser:   cfg.TLS.ClientCertUser,
		MaxMessageSize:   cfg.Limits.MaxMessageSize,
		MaxFrameCommands: cfg.Limits.MaxFrameCommands,
		PreambleTimeout:  cfg.ConnectTimeout,
		WriteTimeout:     cfg.Limits.WriteTimeout,
		Logger:           log,
	}
	if cfg.RawTCP.UseTLS && certs != nil {
		tc.TLS = certs.Config()
	}
	return tc
}
