// Package tlsconfig builds the TLS configuration of Herald's listener and
// reloads its certificates without a restart.
//
// New loads a certificate, its private key and, for mutual TLS, a client CA
// bundle; Reloader.Config returns the *tls.Config to wrap the listener with
// (tls.NewListener). TLS 1.2 is the oldest version offered.
//
// # Reload
//
// Reload re-reads the certificate, the key and the client CA file, and
// swaps them in at once for every handshake that starts afterwards.
// Connections already open keep the session they negotiated: a reload
// never drops a client. When any file is missing or invalid, or the key
// does not match the certificate, Reload returns an error and the
// previous certificate, key and CA stay in service; the caller logs the
// error and the operator fixes the files and reloads again.
//
// Reload does not change the listener address, the client authentication
// mode (none, request, require) or whether a client CA is used at all:
// those take a restart.
//
// The operator triggers a reload by sending the process SIGHUP
// (kill -HUP <pid>) after replacing the files, e.g. after a certificate
// renewal. Replacing each file with a rename keeps a reload from reading
// half a file; a reload that catches a new certificate with the old key
// fails and changes nothing.
//
// # Client certificates
//
// ClientAuth "request" verifies a client certificate against the client CA
// when the client offers one and admits clients without; "require" refuses
// a handshake without a valid one. A session resumed after a reload is
// checked against the CA in service then, not the one it began with.
//
// Errors name the file at fault and never include key material.
//
// All methods of Reloader may be called concurrently, Reload included,
// while handshakes run.
package tlsconfig
