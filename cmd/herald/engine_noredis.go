//go:build herald_noredis

package main

import (
	"log/slog"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/config"
)

// redisCompiledIn: this build leaves the Redis engine out (herald_noredis).
const redisCompiledIn = false

// newRedisBroker refuses: buildParts' checkEngine has already said so.
func newRedisBroker(config.RedisBroker, *slog.Logger) (broker.Broker, error) {
	return nil, errLeftOut("redis")
}
