// Package protocol defines Herald's wire contract: the commands clients send,
// the replies and pushes the server answers with, the error and close codes,
// and the two codecs (JSON and Protobuf, see Encoding) that turn them into
// frames.
//
// The package has no I/O and no goroutines. Everything in it is safe for
// concurrent use; the values it returns are owned by the caller.
//
// The contract itself is written down in docs/PROTOCOL.md; this package is its
// executable form.
package protocol
