package bench

import "strings"

// Herald refuses load past its limits with a few distinct answers; a bench
// run that meets one should say which limit it was and how to lift it for
// a benchmark, rather than leave "http 429" to be looked up. The keys are
// the ones connect errors and publisher errors are counted under.
var limitHints = map[string]string{
	"http 429": "the server refused connections opened faster than its connect rate per address " +
		"(limits.connect_rate_per_ip and limits.connect_burst_per_ip, Herald's defaults 20/s and 50); " +
		"spread the clients over more local addresses with --source-ips, " +
		"or for a benchmark lift it: limits.connect_rate_per_ip: -1 (HERALD_LIMITS_CONNECT_RATE_PER_IP=-1)",
	"close 4005": "the server's connection caps closed them: limits.max_connections_per_ip (Herald's default 1000 from one address) " +
		"or limits.max_connections (100000 in all); spread the clients over more local addresses with --source-ips, " +
		"or for a benchmark raise them (HERALD_LIMITS_MAX_CONNECTIONS_PER_IP=1000000, HERALD_LIMITS_MAX_CONNECTIONS=1000000)",
	"error 106": "a server limit was exceeded: on connect, one user's connections " +
		"(limits.max_connections_per_user, Herald's default 100; HERALD_LIMITS_MAX_CONNECTIONS_PER_USER=-1 lifts it); " +
		"on subscribe, one connection's channels (limits.max_channels_per_connection, default 128)",
	"http 503": "the server is shutting down or its HTTP connections are all in use " +
		"(limits.max_http_connections, Herald's default 2048); lower --connect-concurrency or raise it (HERALD_LIMITS_MAX_HTTP_CONNECTIONS)",
	"error 110": "the server refused publications over its per-connection publish rate " +
		"(limits.publish_rate and limits.publish_burst, Herald's defaults 50/s and 200); " +
		"spread them over more connections with --publishers, or for a benchmark lift it: limits.publish_rate: -1 (HERALD_LIMITS_PUBLISH_RATE=-1)",
	"close 4004": "the server closed a connection after too many rate-limited commands in a row " +
		"(limits.rate_limit_strikes, Herald's default 50); see error 110",
}

// limitHint explains a connect or publish error key by the server limit
// behind it, or returns "" when the key is no limit.
func limitHint(key string) string {
	return limitHints[strings.TrimPrefix(key, "publisher ")]
}

// explainSuffix is limitHint as the end of an error message.
func explainSuffix(key string) string {
	if h := limitHint(key); h != "" {
		return ": " + h
	}
	return ""
}
