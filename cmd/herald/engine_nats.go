package main

import (
	"log/slog"

	"github.com/heraldhq/herald/broker"
	natsbroker "github.com/heraldhq/herald/broker/nats"
	"github.com/heraldhq/herald/config"
)

// newNATSBroker connects to the configured NATS, first starting the
// embedded server when the configuration asks for one.
func newNATSBroker(cfg config.Config, log *slog.Logger) (broker.Broker, error) {
	nc := cfg.Broker.NATS
	opts := natsbroker.Options{
		URL:      nc.URL,
		Prefix:   nc.Prefix,
		Replicas: nc.Replicas,
		Name:     "herald " + cfg.NodeName,
		Logger:   log.With("broker", "nats"),
	}
	if !nc.Embedded.Enabled {
		return natsbroker.New(opts)
	}
	return newEmbeddedNATSBroker(cfg, opts, log)
}
