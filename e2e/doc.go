// Package e2e holds Herald's end-to-end tests: a real server on a loopback
// port (internal/heraldtest), real clients speaking the protocol in both
// encodings, and checks of what docs/PROTOCOL.md promises on the wire.
//
// A test belongs here when it tests behaviour a client or a backend sees
// through the wire: connect and tokens, subscribe, publish and recovery,
// presence, quotas, rates and permissions, the connect and subscribe
// proxies, slow consumers, bad input, shutdown and restart, several nodes
// on a shared Redis or NATS and the engine's outages. A test of one
// package's own mechanics stays beside that package: the server's
// transport, reader, HTTP limits, TLS and drain in server, the hub's rules
// on its fake transports in hub.
//
// Tests that wait for timers rather than work call waitsOnClock, which
// runs them side by side after the rest.
//
// The package has no code of its own; this file documents it.
package e2e
