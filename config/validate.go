package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/protocol"
)

// Error is a problem with one key of the configuration.
type Error struct {
	// File and Line say where the key is, when the problem was found while
	// reading a file (Line is 0 when unknown); both are empty for a
	// problem with the values, wherever they came from.
	File string
	Line int
	// Key is the key's YAML path, dotted: "limits.max_message_size".
	Key string
	// Problem says what is wrong with it.
	Problem string
}

// Error implements error: "herald.yaml:3: limits.max_mesage_size: unknown
// key (did you mean max_message_size?)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

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
	if err := c.validateTCP(); err != nil {
		return err
	}
	if c.Compression.Threshold < 0 {
		return problem("compression.threshold", "must not be negative")
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
	if err := c.Broker.validate(); err != nil {
		return err
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if err := c.Consumers.validate(); err != nil {
		return err
	}
	if c.Admin.Password != "" && len(c.Admin.Password) < 16 {
		return problem("admin.password", "too short: at least 16 bytes")
	}
	if c.Demo.Enabled && c.Token.HMACSecret == "" && !c.Dev { // dev generates one
		return problem("demo.enabled", "the demo signs tokens: set token.hmac_secret")
	}
	if c.Demo.Enabled && !namespaceName.MatchString(c.Demo.Namespace) {
		return problem("demo.namespace", "not a namespace name: %q", c.Demo.Namespace)
	}
	for i, k := range c.APIKeys {
		if len(k) < 16 {
			return problem(fmt.Sprintf("api_keys[%d]", i), "too short: at least 16 bytes")
		}
	}
	for i, n := range c.APIAllowedNets {
		if _, err := ParseNet(n); err != nil {
			return problem(fmt.Sprintf("api_allowed_nets[%d]", i), "%v", err)
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
		{"limits.request_body_timeout", int64(c.Limits.RequestBodyTimeout)},
		{"limits.handshake_timeout", int64(c.Limits.HandshakeTimeout)},
		{"limits.write_timeout", int64(c.Limits.WriteTimeout)},
		{"limits.max_message_size", int64(c.Limits.MaxMessageSize)},
		{"limits.max_connections", int64(c.Limits.MaxConnections)},
		{"limits.max_connections_per_ip", int64(c.Limits.MaxConnectionsPerIP)},
		{"limits.max_channels_per_connection", int64(c.Limits.MaxChannelsPerConnection)},
		{"limits.connect_burst_per_ip", int64(c.Limits.ConnectBurstPerIP)},
		{"limits.max_http_connections", int64(c.Limits.MaxHTTPConnections)},
		{"limits.max_http_connections_per_ip", int64(c.Limits.MaxHTTPConnectionsPerIP)},
		{"limits.command_burst", int64(c.Limits.CommandBurst)},
		{"limits.publish_burst", int64(c.Limits.PublishBurst)},
		{"limits.read_burst", int64(c.Limits.ReadBurst)},
		{"limits.rate_limit_strikes", int64(c.Limits.RateLimitStrikes)},
		{"limits.max_frame_commands", int64(c.Limits.MaxFrameCommands)},
		{"limits.max_data_depth", int64(c.Limits.MaxDataDepth)},
		{"limits.join_leave_burst", int64(c.Limits.JoinLeaveBurst)},
		{"limits.write_queue_messages", int64(c.Limits.WriteQueueMessages)},
		{"limits.write_queue_bytes", int64(c.Limits.WriteQueueBytes)},
		{"limits.max_concurrent_catchups", int64(c.Limits.MaxConcurrentCatchups)},
		{"limits.stream_queue_length", int64(c.Limits.StreamQueueLength)},
		{"limits.max_pending_routes", int64(c.Limits.MaxPendingRoutes)},
		{"limits.route_timeout", int64(c.Limits.RouteTimeout)},
		{"limits.api_body_size", c.Limits.APIBodySize},
		{"limits.new_channels_interval", int64(c.Limits.NewChannelsInterval)},
		{"inbox.new_recipients_interval", int64(c.Inbox.NewRecipientsInterval)},
	} {
		if f.v <= 0 {
			return problem(f.key, "must be positive")
		}
	}
	if c.Limits.CommandRate <= 0 {
		return problem("limits.command_rate", "must be positive")
	}
	// These may be turned off with -1.
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"limits.max_connections_per_user", float64(c.Limits.MaxConnectionsPerUser)},
		{"limits.connect_rate_per_ip", c.Limits.ConnectRatePerIP},
		{"limits.publish_rate", c.Limits.PublishRate},
		{"limits.read_rate", c.Limits.ReadRate},
		{"limits.max_presence_members", float64(c.Limits.MaxPresenceMembers)},
		{"limits.max_new_channels", float64(c.Limits.MaxNewChannels)},
		{"limits.max_outgoing_bytes", float64(c.Limits.MaxOutgoingBytes)},
		{"inbox.max_new_recipients", float64(c.Inbox.MaxNewRecipients)},
		{"limits.join_leave_rate", c.Limits.JoinLeaveRate},
	} {
		if f.v <= 0 && f.v != -1 {
			return problem(f.key, "must be positive, or -1 for no limit")
		}
	}
	if c.Limits.MaxDataDepth > protocol.MaxDataDepthCeiling {
		return problem("limits.max_data_depth", "must be at most %d", protocol.MaxDataDepthCeiling)
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
	if c.Inbox.MaxPerSender < -1 {
		return problem("inbox.max_per_sender", "must not be negative, but -1 for no limit")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Namespaces)) {
		ns := c.Namespaces[name]
		key := "namespaces." + name
		if name != "" && !namespaceName.MatchString(name) {
			return problem(key, "a namespace name is 1-64 letters, digits, '_', '-' or '.'")
		}
		if err := ns.validate(); err != nil {
			return problem(key, "%v", err)
		}
		if ns.SubscribeProxy && c.Proxy.SubscribeURL == "" {
			return problem(key+".subscribe_proxy", "needs proxy.subscribe_url")
		}
		ns.Normalize()
		c.Namespaces[name] = ns
	}
	return nil
}

// validateAuth checks that connections can authenticate somehow, and the
// token, proxy and TLS sections.
func (c *Config) validateAuth() error {
	t := &c.Token
	if !t.Configured() && !c.Anonymous && !c.Dev && c.Proxy.ConnectURL == "" && !c.TLS.ClientCertUser {
		return problem("token", "set token.hmac_secret, token.public_key_file or token.jwks_url "+
			"(or allow anonymous, a proxy.connect_url or tls.client_cert_user)")
	}
	if strings.Contains(t.HMACSecret, "-----BEGIN ") {
		// A public key used as an HMAC secret lets anyone who has the
		// public key sign tokens (the algorithm confusion attack).
		return problem("token.hmac_secret", "is a PEM block: a public key goes in token.public_key_file")
	}
	if t.HMACSecret != "" && len(t.HMACSecret) < 32 {
		// RFC 7518 §3.2: an HS256 key at least as long as the hash.
		return problem("token.hmac_secret", "too short: at least 32 bytes")
	}
	for i, a := range t.Algorithms {
		key := fmt.Sprintf("token.algorithms[%d]", i)
		switch a {
		case "HS256", "HS384", "HS512":
			if t.HMACSecret == "" {
				return problem(key, "%s needs token.hmac_secret", a)
			}
		case "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA":
			if t.PublicKeyFile == "" && t.JWKSURL == "" {
				return problem(key, "%s needs token.public_key_file or token.jwks_url", a)
			}
		default:
			return problem(key, "%q is not one of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, EdDSA", a)
		}
	}
	if t.Leeway < 0 {
		return problem("token.leeway", "must not be negative")
	}
	if t.RefreshNotice <= 0 {
		return problem("token.refresh_notice", "must be positive")
	}
	for _, u := range []struct{ key, v string }{{"token.jwks_url", t.JWKSURL}, {"proxy.connect_url", c.Proxy.ConnectURL}, {"proxy.subscribe_url", c.Proxy.SubscribeURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return problem(u.key, "not an http(s) URL") // not the URL: it may hold a password
		}
		if u.key == "token.jwks_url" && p.Scheme == "http" && !isLoopback(p.Hostname()) {
			return problem(u.key, "plain http outside loopback: keys fetched so could be forged in transit; use https")
		}
	}
	if c.Proxy.Timeout <= 0 {
		return problem("proxy.timeout", "must be positive")
	}
	tls := &c.TLS
	if tls.Enabled() && (tls.CertFile == "" || tls.KeyFile == "") {
		return problem("tls", "cert_file and key_file go together")
	}
	switch tls.ClientAuth {
	case "none":
		if tls.ClientCAFile != "" {
			return problem("tls.client_ca_file", "set tls.client_auth to request or require to use it")
		}
	case "request", "require":
		if !tls.Enabled() {
			return problem("tls.client_auth", "needs tls.cert_file and tls.key_file")
		}
		if tls.ClientCAFile == "" {
			return problem("tls.client_ca_file", "required with tls.client_auth %s", tls.ClientAuth)
		}
	default:
		return problem("tls.client_auth", "%q is not one of none, request, require", tls.ClientAuth)
	}
	if tls.ClientCertUser && tls.ClientAuth == "none" {
		return problem("tls.client_cert_user", "needs tls.client_auth request or require")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// ParseNet parses an api_allowed_nets entry: a CIDR prefix or one address.
func ParseNet(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a CIDR prefix or an address: %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (b *Broker) validate() error {
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"broker.memory.max_retained_bytes", b.Memory.MaxRetainedBytes},
		{"broker.memory.max_streams", b.Memory.MaxStreams},
	} {
		if f.v <= 0 && f.v != -1 {
			return problem(f.key, "must be positive, or -1 for no cap")
		}
	}
	switch b.Engine {
	case "memory":
	case "redis":
		if len(b.Redis.Addrs) == 0 {
			return problem("broker.redis.addrs", "at least one Redis address")
		}
		for i, a := range b.Redis.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return problem(fmt.Sprintf("broker.redis.addrs[%d]", i), "not host:port: %q", a)
			}
		}
		if b.Redis.Prefix == "" {
			return problem("broker.redis.prefix", "must not be empty")
		}
	case "nats":
		if b.NATS.Prefix == "" {
			return problem("broker.nats.prefix", "must not be empty")
		}
		if b.NATS.Replicas < 1 || b.NATS.Replicas > 5 {
			return problem("broker.nats.replicas", "%d is not between 1 and 5", b.NATS.Replicas)
		}
		e := &b.NATS.Embedded
		if !e.Enabled {
			if b.NATS.URL == "" {
				return problem("broker.nats.url", "required unless broker.nats.embedded.enabled")
			}
			break
		}
		if _, _, err := net.SplitHostPort(e.Listen); err != nil {
			return problem("broker.nats.embedded.listen", "not host:port: %q", e.Listen)
		}
		if _, _, err := net.SplitHostPort(e.ClusterListen); err != nil {
			return problem("broker.nats.embedded.cluster_listen", "not host:port: %q", e.ClusterListen)
		}
		for i, a := range e.Peers {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return problem(fmt.Sprintf("broker.nats.embedded.peers[%d]", i), "not host:port: %q", a)
			}
		}
		if e.Dir == "" {
			return problem("broker.nats.embedded.dir", "must not be empty")
		}
	default:
		return problem("broker.engine", "%q is not one of memory, redis, nats", b.Engine)
	}
	return nil
}

// validateTCP checks the TCP listener's section.
func (c *Config) validateTCP() error {
	t := &c.RawTCP
	if t.Address == "" {
		if t.UseTLS {
			return problem("tcp.tls", "needs tcp.address")
		}
		return nil
	}
	if _, port, err := net.SplitHostPort(t.Address); err != nil {
		return problem("tcp.address", "not host:port: %q", t.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return problem("tcp.address", "bad port %q", port)
	}
	if _, port, _ := net.SplitHostPort(t.Address); t.Address == c.Address && port != "0" {
		// Port 0 picks a free port for each: no clash.
		return problem("tcp.address", "the same as address: the listeners need ports of their own")
	}
	if t.UseTLS && !c.TLS.Enabled() {
		return problem("tcp.tls", "needs tls.cert_file and tls.key_file")
	}
	return nil
}
