package main

import (
	"fmt"

	"github.com/heraldhq/herald/config"
)

// Lean builds: the Redis engine and the embedded NATS server (together more
// than half of the binary) are compiled in unless a build tag leaves them
// out, for deployments that never use them:
//
//	go build -tags herald_noredis,herald_noembeddednats ./cmd/herald
//
// The memory engine and the NATS engine's client (which connects to an
// external NATS) are always there. A configuration that needs a left-out
// part fails at startup, and in `herald config check`, naming the tag;
// `herald version` lists the engines compiled in.

// embeddedNATS names the embedded NATS server among the engines.
const embeddedNATS = "nats-embedded"

// leanTags maps each part a build may leave out to the tag that does.
var leanTags = map[string]string{"redis": "herald_noredis", embeddedNATS: "herald_noembeddednats"}

// compiledEngines are the engines this binary has: memory, redis, nats,
// and nats-embedded when it can run its own NATS server.
func compiledEngines() []string {
	engines := []string{"memory"}
	if redisCompiledIn {
		engines = append(engines, "redis")
	}
	engines = append(engines, "nats")
	if embeddedNATSCompiledIn {
		engines = append(engines, embeddedNATS)
	}
	return engines
}

// checkEngine refuses a broker configuration that needs a part this build
// left out, naming the key and the tag.
func checkEngine(b config.Broker) error {
	switch {
	case b.Engine == "redis" && !redisCompiledIn:
		return &config.Error{Key: "broker.engine", Problem: errLeftOut("redis").Error()}
	case b.Engine == "nats" && b.NATS.Embedded.Enabled && !embeddedNATSCompiledIn:
		return &config.Error{Key: "broker.nats.embedded.enabled", Problem: errLeftOut(embeddedNATS).Error()}
	}
	return nil
}

// errLeftOut says that part is not in this build and why.
func errLeftOut(part string) error {
	return fmt.Errorf("%s is not compiled into this herald (built with -tags %s); use a build without that tag", part, leanTags[part])
}
