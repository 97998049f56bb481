//go:build herald_noembeddednats

package main

import (
	"log/slog"

	"github.com/heraldhq/herald/broker"
	natsbroker "github.com/heraldhq/herald/broker/nats"
	"github.com/heraldhq/herald/config"
)

// embeddedNATSCompiledIn: this build leaves the embedded NATS server out
// (herald_noembeddednats); the NATS engine still connects to an external
// one.
const embeddedNATSCompiledIn = false

// newEmbeddedNATSBroker refuses: buildParts' checkEngine has already said
// so.
func newEmbeddedNATSBroker(config.Config, natsbroker.Options, *slog.Logger) (broker.Broker, error) {
	return nil, errLeftOut(embeddedNATS)
}
