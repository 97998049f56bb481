// Package config is Herald's configuration file: its schema, defaults,
// loading (YAML file, then HERALD_* environment variables, then flags) and
// validation. It knows nothing about how the values are used; cmd/herald
// turns a Config into the server's own options.
package config

import "time"

// Config is the whole configuration file. Every field's comment gives its
// YAML key and its default.
type Config struct {
	// Address is the HTTP listener. Default ":8000", which development
	// mode turns into "127.0.0.1:8000" (loopback only): give another
	// address, or --address, to listen elsewhere in development mode.
	Address string `yaml:"address"`
	// Dev turns on development mode: anonymous connections, every namespace
	// open, any origin, the echo endpoint, the demo, a landing page on /,
	// and a generated API key and token secret when none is set; it listens
	// on loopback unless given another address. Never in production.
	// Default false.
	Dev bool `yaml:"dev"`

	// NodeName names this node in the info API. Default: the host name and
	// the listen port ("web-1:8000").
	NodeName string `yaml:"node_name"`

	// Log configures structured logs.
	Log Log `yaml:"log"`
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics `yaml:"metrics"`
	// Admin configures the admin web UI.
	Admin Admin `yaml:"admin"`
	// Demo configures the demo chat page.
	Demo Demo `yaml:"demo"`

	// Broker is the engine that carries messages between connections and,
	// in a cluster, between nodes.
	Broker Broker `yaml:"broker"`

	// Token configures how connection and channel tokens are verified.
	Token Token `yaml:"token"`
	// Proxy asks the application's backend about connects and subscribes.
	Proxy Proxy `yaml:"proxy"`
	// TLS serves HTTPS and WSS, optionally with client certificates.
	TLS TLS `yaml:"tls"`
	// RawTCP is the optional raw TCP listener, for clients without
	// WebSocket. (Not named TCP: the reference would print every "TCP" in
	// these comments as the key.)
	RawTCP TCP `yaml:"tcp"`
	// APIKeys authorize the server API. Empty disables the API.
	APIKeys []string `yaml:"api_keys"`
	// APIAllowedNets, when not empty, lists the networks (CIDR, or single
	// addresses) that may call the server API; others get 403 before their
	// key is looked at. The TCP peer is checked, never X-Forwarded-For:
	// behind a reverse proxy, list the proxy. Default: any network.
	APIAllowedNets []string `yaml:"api_allowed_nets"`
	// Anonymous allows connections without a token. Default false.
	Anonymous bool `yaml:"anonymous"`
	// AllowedOrigins lists the Origin values accepted on the WebSocket
	// endpoints; "*" accepts any. Empty means same origin only (the Origin's
	// host equals the request's Host) or no Origin header (non-browser clients).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// EchoEndpoint serves /echo. Default false.
	EchoEndpoint bool `yaml:"echo_endpoint"`
	// Compression configures permessage-deflate on /ws and /echo.
	Compression Compression `yaml:"compression"`

	// PingInterval is how often the server sends a ping push. Default 25s.
	PingInterval time.Duration `yaml:"ping_interval"`
	// PongTimeout is how long a client has to answer a ping. Default 10s.
	PongTimeout time.Duration `yaml:"pong_timeout"`
	// ConnectTimeout is how long a client has to send connect. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// PresenceTTL is how long a presence entry lives unless refreshed.
	// Default 60s.
	PresenceTTL time.Duration `yaml:"presence_ttl"`
	// IdempotencyTTL is how long publish idempotency keys are remembered.
	// Default 5m.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`

	// Inbox configures per-user direct-message streams.
	Inbox Inbox `yaml:"inbox"`
	// Limits bounds what clients may do.
	Limits Limits `yaml:"limits"`
	// Consumers publish what the application writes to Kafka or to a
	// PostgreSQL outbox table.
	Consumers Consumers `yaml:"consumers"`
	// Namespaces holds channel options by namespace name; the key "" (write
	// it as '""' in YAML) is the default namespace, for names without a
	// colon. A channel in a namespace not listed here is refused with error
	// 102. Default: "" and "chat", where users with a token (or another
	// way in) subscribe and subscribers publish, "chat" with presence,
	// join and leave, history and recovery; a namespaces section in the
	// file replaces both. Development mode opens every namespace not
	// listed, and leaves the default two out, so every namespace is open
	// to anyone there unless the file says otherwise.
	Namespaces map[string]Namespace `yaml:"namespaces"`
}

// Token configures token verification. At least one key source (an HMAC
// secret, a public key file or a JWKS URL) is required unless connections
// authenticate otherwise (anonymous, connect proxy, client certificates).
type Token struct {
	// HMACSecret verifies HS256/384/512 tokens; at least 32 bytes. Set it
	// through HERALD_TOKEN_HMAC_SECRET rather than the file. Default none.
	HMACSecret string `yaml:"hmac_secret"`
	// PublicKeyFile is a PEM public key (RSA of 2048 bits or more, ECDSA
	// P-256/P-384, Ed25519) or certificate verifying RS*, ES* or EdDSA
	// tokens. Default none.
	PublicKeyFile string `yaml:"public_key_file"`
	// JWKSURL serves the token keys as a JWK Set (https, or http on
	// loopback), cached and refreshed hourly and on an unknown kid, at most
	// every 5 s. Default none.
	JWKSURL string `yaml:"jwks_url"`
	// Algorithms pins the accepted algorithms (HS256, HS384, HS512, RS256,
	// RS384, RS512, ES256, ES384, EdDSA). Default: those the configured keys
	// imply (HS256 for a secret).
	Algorithms []string `yaml:"algorithms"`
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	// Leeway tolerates clock skew when checking exp, nbf and iat. Default 0.
	Leeway time.Duration `yaml:"leeway"`
	// RefreshNotice is how long before a token expires the client gets
	// refresh_needed. Default 1m.
	RefreshNotice time.Duration `yaml:"refresh_notice"`
}

// Configured reports whether any key source is set.
func (t *Token) Configured() bool {
	return t.HMACSecret != "" || t.PublicKeyFile != "" || t.JWKSURL != ""
}

// Proxy configures the HTTP calls to the application's backend that
// authenticate connections (by their cookies, say) and authorize
// subscribes, for apps that do not mint JWTs.
type Proxy struct {
	// ConnectURL receives a POST for every connect without a token. Default
	// none (off).
	ConnectURL string `yaml:"connect_url"`
	// SubscribeURL receives a POST for every client subscribe to a
	// namespace with subscribe_proxy: true. Default none (off).
	SubscribeURL string `yaml:"subscribe_url"`
	// Timeout bounds one call. Default 3s.
	Timeout time.Duration `yaml:"timeout"`
	// ForwardHeaders are the WebSocket upgrade request's headers sent to
	// the connect proxy. Default ["Cookie", "Authorization"].
	ForwardHeaders []string `yaml:"forward_headers"`
}

// TLS configures the listener's TLS.
type TLS struct {
	// CertFile and KeyFile turn TLS on (1.2 or later). Both files, and
	// ClientCAFile, are read again on SIGHUP without dropping connections.
	// Default none (plain HTTP).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile holds the CAs that sign client certificates; required
	// for ClientAuth request or require. Default none.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is none, request (verify a certificate when sent) or
	// require (refuse handshakes without a valid one). Default none.
	ClientAuth string `yaml:"client_auth"`
	// ClientCertUser makes a verified client certificate's subject common
	// name the user of a connect without a token. Default false.
	ClientCertUser bool `yaml:"client_cert_user"`
}

// Enabled reports whether TLS is configured.
func (t *TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// TCP configures the raw TCP listener: the protocol over plain TCP or TLS,
// without WebSocket (docs/PROTOCOL.md, "Raw TCP"). It shares the hub, the
// limits and the connection counts with the WebSocket endpoint.
type TCP struct {
	// Address turns the listener on, at host:port. Default "" (off).
	Address string `yaml:"address"`
	// UseTLS serves TLS on it with the tls section's certificate and
	// client certificate policy (reloaded with them on SIGHUP); it needs
	// tls.cert_file. Default false (plain TCP).
	UseTLS bool `yaml:"tls"`
}

// Compression configures permessage-deflate (RFC 7692), the WebSocket
// compression browsers offer, on /ws and /echo. It is off by default: each
// compressed message costs CPU (a publication is compressed once for all
// its subscribers, a reply or an echo once for its connection, and every
// compressed client message is inflated), each connection holds a
// compressor's or an inflater's memory while a message is compressed or
// inflated (pooled between messages, not kept by idle connections), and
// compressing a secret together with data an attacker chooses in one
// message lets the attacker learn the secret from the compressed sizes
// (the CRIME and BREACH attacks): leave it off when a message can carry
// both, a token beside text a stranger wrote.
type Compression struct {
	// Enabled negotiates compression with clients that offer it. Default
	// false.
	Enabled bool `yaml:"enabled"`
	// Threshold is the smallest message compressed, in bytes; shorter ones
	// go uncompressed, as compressing them saves little or nothing. Zero
	// compresses every message. Default 256.
	Threshold int `yaml:"threshold"`
}

// Metrics configures /metrics.
type Metrics struct {
	// Enabled serves Prometheus metrics on /metrics. Default true.
	Enabled bool `yaml:"enabled"`
}

// Admin configures the admin web UI on /admin/.
type Admin struct {
	// Password turns the admin UI on and protects it; at least 16 bytes.
	// Set it through HERALD_ADMIN_PASSWORD rather than the file. Default
	// none: no admin UI.
	Password string `yaml:"password"`
	// SecureCookie marks the admin cookies Secure on every request, for a
	// console served over HTTPS by a TLS-terminating proxy that does not
	// send X-Forwarded-Proto. Without it they are Secure when Herald
	// terminates TLS itself or the request says X-Forwarded-Proto: https.
	// Default false.
	SecureCookie bool `yaml:"secure_cookie"`
}

// Demo configures the demo chat on /demo/.
type Demo struct {
	// Enabled serves the demo chat, which hands out a token for any name
	// anyone picks: for trying Herald, never for production. Needs
	// token.hmac_secret. Development mode turns it on. Default false.
	Enabled bool `yaml:"enabled"`
	// Namespace is the namespace of the demo's rooms. Default "chat".
	Namespace string `yaml:"namespace"`
}

// Log configures logging.
type Log struct {
	// Level: debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format: text (default) or json.
	Format string `yaml:"format"`
}

// Inbox configures direct-message inboxes.
type Inbox struct {
	// Size is how many messages an inbox keeps. 0 turns inboxes off: send
	// still delivers live but keeps nothing. Default 100.
	Size int `yaml:"size"`
	// TTL is how long an inbox keeps a message. Default 24h.
	TTL time.Duration `yaml:"ttl"`
	// MaxNewRecipients caps the inboxes one user's sends may start on a
	// node per NewRecipientsInterval, refilling evenly over it: a send to
	// a user who has no inbox (made-up names included) starts one, and the
	// engine keeps it for a day. Once it is spent, the user's sends to
	// users not connected to the node get error 110. Default 100; -1: no
	// quota.
	MaxNewRecipients int `yaml:"max_new_recipients"`
	// NewRecipientsInterval is the period of MaxNewRecipients. Default 1h.
	NewRecipientsInterval time.Duration `yaml:"new_recipients_interval"`
	// MaxPerSender caps the messages one user may send to another without
	// an answer: each sender has a bucket of MaxPerSender per recipient,
	// refilled over TTL, and at once when the recipient sends to the
	// sender (error 110 when empty). One sender thus holds at most about
	// twice that of an inbox and cannot push everyone else's messages out
	// of it. Default 0: a quarter of Size, but at least 10 (or Size when
	// smaller); -1: no limit.
	MaxPerSender int `yaml:"max_per_sender"`
}

// Limits bounds what clients may do. Zero means the default, never
// "unlimited": a limit is turned off by setting it to -1 where that is
// allowed.
type Limits struct {
	// MaxMessageSize is the largest client message accepted, in bytes (a
	// WebSocket message; on raw TCP a JSON line or a Protobuf message);
	// larger ones close the connection with 1009. Default 65536.
	MaxMessageSize int `yaml:"max_message_size"`
	// MaxConnections caps concurrent client connections, /ws, /echo, raw
	// TCP and the HTTP fallbacks' streams (/sse, /stream) together (4005;
	// raw TCP: closed unread; a stream: HTTP 503). Default 100000.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerIP caps concurrent client connections from one
	// address, WebSocket, raw TCP and streams together, an IPv6 address
	// counting as its /64 (4005; raw TCP: closed unread; a stream: HTTP
	// 503). Default 1000.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// MaxConnectionsPerUser caps one user's connections on a node (4005).
	// Default 100; -1: no limit.
	MaxConnectionsPerUser int `yaml:"max_connections_per_user"`
	// ConnectRatePerIP and ConnectBurstPerIP shape new client connections
	// per address (IPv6 per /64), WebSocket, raw TCP and streams from one
	// bucket: past them the upgrade or the stream is answered HTTP 429,
	// and a raw TCP connection is closed unread. Defaults 20/s and 50; rate -1: no limit.
	ConnectRatePerIP  float64 `yaml:"connect_rate_per_ip"`
	ConnectBurstPerIP int     `yaml:"connect_burst_per_ip"`
	// MaxHTTPConnections caps the connections that are not WebSocket
	// connections: every connection from accept until its upgrade, and
	// API calls, pages, metrics and keep-alive for good. Past it, a
	// reserve of a quarter as many more (plus 16) serves WebSocket
	// upgrades and /healthz and /readyz only, one per connection; anything
	// else is answered HTTP 503. Past the reserve, new connections are
	// closed unread. With the WebSocket connections, keep it below the
	// process's file descriptor limit. Default 2048 (2,576 with the
	// reserve).
	MaxHTTPConnections int `yaml:"max_http_connections"`
	// MaxHTTPConnectionsPerIP caps those connections from one address (an
	// IPv6 address counting as its /64); past it, a new connection from
	// the address is closed unread. Of the reserve, one address may hold a
	// sixteenth of this, plus one (9). Behind a reverse proxy, every client
	// shares the proxy's: raise it there. Default 128.
	MaxHTTPConnectionsPerIP int `yaml:"max_http_connections_per_ip"`
	// MaxChannelsPerConnection caps one connection's subscriptions (106).
	// Default 128.
	MaxChannelsPerConnection int `yaml:"max_channels_per_connection"`
	// CommandRate and CommandBurst shape one connection's commands (a token
	// bucket): over it a command is answered with error 110. Defaults 100/s
	// and 200.
	CommandRate  float64 `yaml:"command_rate"`
	CommandBurst int     `yaml:"command_burst"`
	// PublishRate and PublishBurst shape one connection's publish and send
	// commands (error 110, counted as a strike). Defaults 50/s and 200;
	// rate -1: no limit.
	PublishRate  float64 `yaml:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst"`
	// ReadRate and ReadBurst shape one connection's presence,
	// presence_stats and history commands (110). Defaults 20/s and 50;
	// rate -1: no limit.
	ReadRate  float64 `yaml:"read_rate"`
	ReadBurst int     `yaml:"read_burst"`
	// RateLimitStrikes is how many rate-limited commands in a row close the
	// connection with 4004. Default 50.
	RateLimitStrikes int `yaml:"rate_limit_strikes"`
	// MaxFrameCommands is the most commands one WebSocket frame may
	// batch; more closes the connection with 4500. Raw TCP, which has no
	// frames, hands the hub at most this many at a time and refuses none.
	// Default 100.
	MaxFrameCommands int `yaml:"max_frame_commands"`
	// MaxDataDepth bounds the nesting of arrays and objects in a JSON
	// client's data (deeper: error 107). Data from Protobuf clients and the
	// server API is never refused, but reaches JSON clients as a JSON value
	// only within this depth, and as b64 otherwise; presence info deeper is
	// left out of presence replies. Default 64; at most 1000.
	MaxDataDepth int `yaml:"max_data_depth"`
	// MaxPresenceMembers caps the clients one presence reply lists
	// (presence_stats stays exact). Default 1000; -1: no limit.
	MaxPresenceMembers int `yaml:"max_presence_members"`
	// WriteQueueMessages and WriteQueueBytes bound a connection's outgoing
	// queue, counting the frame being written; overflow closes it with
	// 4001. A reply carries at most a quarter of WriteQueueBytes of
	// recovered publications (the rest follow in pages) and a history
	// reply larger than WriteQueueBytes is refused with 106. Defaults 4096
	// and 4 MiB.
	WriteQueueMessages int `yaml:"write_queue_messages"`
	WriteQueueBytes    int `yaml:"write_queue_bytes"`
	// MaxOutgoingBytes bounds, for the whole node, the bytes of replies and
	// recovery pages queued or being written to connections: past it the
	// connections holding the most are closed with 4001 and their queues
	// dropped. Live publications, shared by every subscriber's queue, do
	// not count. Default 67108864 (64 MiB); -1: no limit.
	MaxOutgoingBytes int64 `yaml:"max_outgoing_bytes"`
	// MaxConcurrentCatchups bounds the history reads for recovery and the
	// history command that run at once on a node; the others wait, a
	// subscribe at most the broker timeout (then error 100). Default 16.
	MaxConcurrentCatchups int `yaml:"max_concurrent_catchups"`
	// StreamQueueLength bounds the POSTs to /sse/cmd accepted for one
	// stream connection (server-sent events, HTTP streaming) that it has
	// not run yet; past it a POST is answered 429. Default 16.
	StreamQueueLength int `yaml:"stream_queue_length"`
	// MaxPendingRoutes bounds the POSTs to /sse/cmd for the stream
	// connections of one other node that wait for that node's answer at
	// once; past it a POST for that node is answered 503 at once. Default
	// 1024.
	MaxPendingRoutes int `yaml:"max_pending_routes"`
	// RouteTimeout bounds how long a POST to /sse/cmd for a stream
	// connection of another node waits for that node's answer (then 503).
	// Default 5s.
	RouteTimeout time.Duration `yaml:"route_timeout"`
	// APIBodySize is the largest server API request body (413). Default 1 MiB.
	APIBodySize int64 `yaml:"api_body_size"`
	// ReadHeaderTimeout bounds reading an HTTP request's headers. Default 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// RequestBodyTimeout bounds reading an HTTP request's body, from the
	// end of its headers: a slower body fails the request. A request
	// answered before its body has arrived (a 401, a 404) closes the
	// connection instead of waiting for the rest. Default 10s.
	RequestBodyTimeout time.Duration `yaml:"request_body_timeout"`
	// HandshakeTimeout bounds the WebSocket upgrade. Default 10s.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// WriteTimeout bounds one frame write: a client that stops reading for
	// longer is dropped. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxNewChannels caps the channel streams one user's commands may
	// start on a node per NewChannelsInterval, refilling evenly over it
	// (anonymous connections have a quota each): a publish, subscribe or
	// history on a channel of a namespace with history that has no stream
	// yet starts one, and the engine keeps it for a day. Once it is spent,
	// those commands get error 110 on channels without subscribers on the
	// node. Default 1000; -1: no quota.
	MaxNewChannels int `yaml:"max_new_channels"`
	// NewChannelsInterval is the period of MaxNewChannels. Default 1h.
	NewChannelsInterval time.Duration `yaml:"new_channels_interval"`
	// JoinLeaveRate and JoinLeaveBurst shape the join and leave pushes of
	// each channel, per second on each node: past them events are held
	// back, a client's latest replacing its earlier one, and go out as
	// the rate allows, so subscribers learn of changes late, not never
	// (presence replies are always current). Defaults 10/s and 50; rate
	// -1: no limit.
	JoinLeaveRate  float64 `yaml:"join_leave_rate"`
	JoinLeaveBurst int     `yaml:"join_leave_burst"`
}

// Broker selects and configures the message engine.
type Broker struct {
	// Engine is memory (one node, nothing else to run), redis or nats.
	// Default memory.
	Engine string `yaml:"engine"`
	// Redis configures the redis engine.
	Redis RedisBroker `yaml:"redis"`
	// NATS configures the nats engine.
	NATS NATSBroker `yaml:"nats"`
	// Memory configures the memory engine.
	Memory MemoryBroker `yaml:"memory"`
}

// MemoryBroker caps what the memory engine keeps. Past a cap it evicts
// whole streams, the one published to least recently first; a client that
// was behind in an evicted stream recovers with recovered: false.
type MemoryBroker struct {
	// MaxRetainedBytes caps the publications all channels and inboxes
	// keep, counting their data and 96 bytes each. Default 1073741824
	// (1 GiB); -1: no cap.
	MaxRetainedBytes int64 `yaml:"max_retained_bytes"`
	// MaxStreams caps the channel and inbox streams kept, with or without
	// publications (a position alone costs about 300 bytes). Default
	// 1000000; -1: no cap.
	MaxStreams int64 `yaml:"max_streams"`
}

// RedisBroker configures the Redis engine.
type RedisBroker struct {
	// Addrs are the Redis servers as host:port. One is a single Redis;
	// several shard channels over them by consistent hashing (every node
	// must list the same servers in the same order). Default
	// ["127.0.0.1:6379"].
	Addrs []string `yaml:"addrs"`
	// Cluster treats Addrs as seed nodes of a Redis Cluster. Default false.
	Cluster bool `yaml:"cluster"`
	// Username and Password authenticate to Redis (AUTH / ACL); set the
	// password through HERALD_BROKER_REDIS_PASSWORD rather than the file.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Prefix starts every key and pub/sub channel, so that several Herald
	// clusters can share one Redis. Default "herald".
	Prefix string `yaml:"prefix"`
}

// NATSBroker configures the NATS engine.
type NATSBroker struct {
	// URL lists the NATS servers, comma-separated. Ignored when Embedded is
	// on. Default "nats://127.0.0.1:4222".
	URL string `yaml:"url"`
	// Prefix starts every subject, stream and bucket name, so that several
	// Herald clusters can share one NATS. Default "herald".
	Prefix string `yaml:"prefix"`
	// Replicas is the JetStream replication of Herald's streams and
	// buckets: 1, or 3 for a cluster that survives the loss of a server.
	// Default 1.
	Replicas int `yaml:"replicas"`
	// Embedded runs a NATS server inside this process.
	Embedded EmbeddedNATS `yaml:"embedded"`
}

// EmbeddedNATS runs a NATS server with JetStream in the Herald process; the
// embedded servers of several nodes form a NATS cluster through Peers.
type EmbeddedNATS struct {
	// Enabled turns the embedded server on. Default false.
	Enabled bool `yaml:"enabled"`
	// Listen is the embedded server's client address; other programs (the
	// nats CLI) can connect to it. Default "127.0.0.1:4222".
	Listen string `yaml:"listen"`
	// ClusterListen is the address other nodes' embedded servers route to.
	// Default ":6222".
	ClusterListen string `yaml:"cluster_listen"`
	// Peers are the other nodes' ClusterListen addresses, host:port. Empty:
	// a single server. Default none.
	Peers []string `yaml:"peers"`
	// ClusterName must be the same on every node. Default "herald".
	ClusterName string `yaml:"cluster_name"`
	// Dir holds the JetStream store (history, inboxes, presence). Default
	// "herald-data/nats", relative to the working directory.
	Dir string `yaml:"dir"`
}
