//go:build !herald_noembeddednats

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/broker"
	natsbroker "github.com/heraldhq/herald/broker/nats"
	"github.com/heraldhq/herald/broker/nats/embed"
	"github.com/heraldhq/herald/config"
)

// embeddedNATSCompiledIn: this build has the embedded NATS server (the
// tag herald_noembeddednats leaves it out).
const embeddedNATSCompiledIn = true

// newEmbeddedNATSBroker starts the embedded NATS server the configuration
// describes and connects opts to it in-process.
func newEmbeddedNATSBroker(cfg config.Config, opts natsbroker.Options, log *slog.Logger) (broker.Broker, error) {
	e := cfg.Broker.NATS.Embedded
	host, port, err := hostPort(e.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS listen: %w", err)
	}
	chost, cport, err := hostPort(e.ClusterListen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS cluster listen: %w", err)
	}
	srv, err := embed.Start(embed.Options{
		Dir:         e.Dir,
		ServerName:  cfg.NodeName,
		Host:        host,
		Port:        port,
		ClusterName: e.ClusterName,
		ClusterHost: chost,
		ClusterPort: cport,
		Peers:       e.Peers,
		Logger:      log.With("nats", "embedded"),
	})
	if err != nil {
		return nil, err
	}
	log.Info("embedded NATS started", "client", srv.ClientURL(), "peers", len(e.Peers))
	// A clustered JetStream serves nothing until its peers have elected a
	// leader, which needs a majority of them up: wait for it rather than
	// fail, since the nodes of a new cluster start one by one.
	ctx, cancel := context.WithTimeout(context.Background(), embeddedReadyTimeout)
	err = srv.Ready(ctx)
	cancel()
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS: %w (are a majority of --cluster-peers up?)", err)
	}
	opts.URL = ""
	opts.ConnOptions = []natsgo.Option{srv.InProcess()}
	// A new cluster's nodes create the same streams at once, and JetStream
	// may take a few seconds to settle them: try again until it has.
	deadline := time.Now().Add(embeddedReadyTimeout)
	for {
		b, err := natsbroker.New(opts)
		if err == nil {
			return &embeddedBroker{Broker: b, srv: srv}, nil
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return nil, err
		}
		log.Warn("embedded NATS not ready yet", "err", err)
		time.Sleep(time.Second)
	}
}

// embeddedReadyTimeout bounds the wait for an embedded NATS cluster's
// JetStream.
const embeddedReadyTimeout = 2 * time.Minute

// embeddedBroker is the NATS broker together with the server it runs on,
// which closes after it.
type embeddedBroker struct {
	*natsbroker.Broker
	srv *embed.Server
}

func (b *embeddedBroker) Close() error {
	err := b.Broker.Close()
	b.srv.Shutdown()
	return err
}

func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}
