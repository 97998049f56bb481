package config

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
)

// Error is a problem with one key of the configuration.
type Error struct {
	// Key is the key's YAML path, dotted: "limits.max_message_size".
	Key string
	// Problem says what is wrong with it.
	Problem string
}

// Error implements error.
func (e *Error) Error() string { return e.Key + ": " + e.Problem }

func problem(key, format string, args ...any) *Error {
	return &Error{Key: key, Problem: fmt.Sprintf(format, args...)}
}

var namespaceName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate reports the first problem in the configuration, as an *Error, and
// normalizes the namespaces (fills their default modes).
func (c *Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Address); err != nil {
		return problem("address", "not host:port: %q", c.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return problem("address", "bad port %q", port)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return problem("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return problem("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.TokenHMACSecret == "" && !c.Anonymous && !c.Dev {
		return problem("token_hmac_secret", "required unless anonymous or dev")
	}
	if c.TokenHMACSecret != "" && len(c.TokenHMACSecret) < 16 {
		return problem("token_hmac_secret", "too short: at least 16 bytes")
	}
	for i, k := range c.APIKeys {
		if len(k) < 16 {
			return problem(fmt.Sprintf("api_keys[%d]", i), "too short: at least 16 bytes")
		}
	}
	// In file order, so the first problem reported is always the same.
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"ping_interval", int64(c.PingInterval)},
		{"pong_timeout", int64(c.PongTimeout)},
		{"connect_timeout", int64(c.ConnectTimeout)},
		{"shutdown_timeout", int64(c.ShutdownTimeout)},
		{"presence_ttl", int64(c.PresenceTTL)},
		{"idempotency_ttl", int64(c.IdempotencyTTL)},
		{"limits.read_header_timeout", int64(c.Limits.ReadHeaderTimeout)},
		{"limits.handshake_timeout", int64(c.Limits.HandshakeTimeout)},
		{"limits.write_timeout", int64(c.Limits.WriteTimeout)},
		{"limits.max_message_size", int64(c.Limits.MaxMessageSize)},
		{"limits.max_connections", int64(c.Limits.MaxConnections)},
		{"limits.max_connections_per_ip", int64(c.Limits.MaxConnectionsPerIP)},
		{"limits.max_channels_per_connection", int64(c.Limits.MaxChannelsPerConnection)},
		{"limits.command_burst", int64(c.Limits.CommandBurst)},
		{"limits.rate_limit_strikes", int64(c.Limits.RateLimitStrikes)},
		{"limits.write_queue_messages", int64(c.Limits.WriteQueueMessages)},
		{"limits.write_queue_bytes", int64(c.Limits.WriteQueueBytes)},
		{"limits.api_body_size", c.Limits.APIBodySize},
	} {
		if f.v <= 0 {
			return problem(f.key, "must be positive")
		}
	}
	if c.Limits.CommandRate <= 0 {
		return problem("limits.command_rate", "must be positive")
	}
	if c.Limits.WriteQueueBytes < c.Limits.MaxMessageSize {
		return problem("limits.write_queue_bytes", "must be at least limits.max_message_size")
	}
	if c.Inbox.Size < 0 {
		return problem("inbox.size", "must not be negative")
	}
	if c.Inbox.Size > 0 && c.Inbox.TTL <= 0 {
		return problem("inbox.ttl", "must be positive when inbox.size is")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Namespaces)) {
		ns := c.Namespaces[name]
		key := "namespaces." + name
		if name != "" && !namespaceName.MatchString(name) {
			return problem(key, "a namespace name is 1-64 letters, digits, '_', '-' or '.'")
		}
		if err := ns.Validate(); err != nil {
			return problem(key, "%v", err)
		}
		ns.Normalize()
		c.Namespaces[name] = ns
	}
	return nil
}
