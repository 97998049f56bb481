package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/server"
)

func serveCommand() *cobra.Command {
	var (
		path    string
		dev     bool
		address string
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
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().BoolVar(&dev, "dev", false, "development mode: anonymous, every namespace open, any origin, echo endpoint, generated API key")
	cmd.Flags().StringVar(&address, "address", "", "listen address (default :8000)")
	eng.register(cmd)
	return cmd
}

// devSecrets fills in what development mode must not leave empty and tells
// the user the generated API key, the one secret they need to use the API.
func devSecrets(cfg *config.Config, w io.Writer) {
	if cfg.TokenHMACSecret == "" {
		cfg.TokenHMACSecret = randomHex(32)
		fmt.Fprintln(w, "dev: generated a token secret for this run (set token_hmac_secret to mint tokens)")
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

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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
		MaxChannelsPerConnection: cfg.Limits.MaxChannelsPerConnection,
		CommandRate:              cfg.Limits.CommandRate,
		CommandBurst:             cfg.Limits.CommandBurst,
		RateLimitStrikes:         cfg.Limits.RateLimitStrikes,
		WriteQueueMessages:       cfg.Limits.WriteQueueMessages,
		WriteQueueBytes:          cfg.Limits.WriteQueueBytes,
		NodeName:                 cfg.NodeName,
		Version:                  version,
		Logger:                   log,
	}
}

// serverConfig maps the file's options onto the server's.
func serverConfig(cfg config.Config, log *slog.Logger) server.Config {
	return server.Config{
		AllowedOrigins:      cfg.AllowedOrigins,
		EchoEndpoint:        cfg.EchoEndpoint,
		MaxMessageSize:      cfg.Limits.MaxMessageSize,
		MaxConnections:      cfg.Limits.MaxConnections,
		MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
		APIKeys:             cfg.APIKeys,
		APIBodySize:         cfg.Limits.APIBodySize,
		ReadHeaderTimeout:   cfg.Limits.ReadHeaderTimeout,
		HandshakeTimeout:    cfg.Limits.HandshakeTimeout,
		WriteTimeout:        cfg.Limits.WriteTimeout,
		Logger:              log,
	}
}

// serve runs the server until SIGINT or SIGTERM, then drains it. A second
// signal exits at once.
func serve(ctx context.Context, cfg config.Config, logOut io.Writer) error {
	log := newLogger(cfg.Log, logOut)
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
	var tokens hub.TokenVerifier
	if cfg.TokenHMACSecret != "" {
		tokens = auth.NewHMACVerifier([]byte(cfg.TokenHMACSecret))
	}
	h := hub.New(hubConfig(cfg, log), b, tokens)
	if err := h.Run(ctx); err != nil {
		return err
	}
	srv := server.New(serverConfig(cfg, log), h)

	l, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return err
	}
	log.Info("herald listening", "address", l.Addr().String(), "version", version, "dev", cfg.Dev)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	select {
	case err := <-served:
		return err
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String(), "timeout", cfg.ShutdownTimeout)
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
