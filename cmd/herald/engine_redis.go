//go:build !herald_noredis

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/config"
)

// redisCompiledIn: this build has the Redis engine (the tag herald_noredis
// leaves it out).
const redisCompiledIn = true

// newRedisBroker connects to the configured Redis.
func newRedisBroker(rc config.RedisBroker, log *slog.Logger) (broker.Broker, error) {
	// go-redis logs its own connection troubles through a process-wide
	// logger; send them to ours, at debug level, since the broker
	// reports what matters (lost and recovered connections) itself.
	goredis.SetLogger(redisLogger{log.With("broker", "redis")})
	addrs := rc.Addrs
	if rc.Username != "" || rc.Password != "" {
		addrs = make([]string, len(rc.Addrs))
		for i, a := range rc.Addrs {
			u := url.URL{Scheme: "redis", Host: a, User: url.UserPassword(rc.Username, rc.Password)}
			addrs[i] = u.String()
		}
	}
	return redis.New(redis.Options{
		Addrs:   addrs,
		Cluster: rc.Cluster,
		Prefix:  rc.Prefix,
		Logger:  log.With("broker", "redis"),
	})
}

// redisLogger adapts slog to go-redis's logger.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}
