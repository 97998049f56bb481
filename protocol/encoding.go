package protocol

import (
	"errors"
	"fmt"
)

// Encoding is one of the protocol's two wire encodings. A connection picks
// one with its WebSocket subprotocol and keeps it; the server encodes every
// push once per encoding in use and shares the bytes among the connections
// that speak it.
//
// The methods below are the whole codec: the server uses DecodeFrame and the
// Append*Reply/Append*Push methods, clients use AppendCommand and
// DecodeServerFrame. Every Append method returns one message ready to be
// batched into a frame: JSON messages are joined with Separator, Protobuf
// messages carry their own length prefix and need no separator.
//
// Each encoding has its own implementation (jsonCodec in json.go,
// protobufCodec in proto.go); the methods pick it by the value and never
// ask which encoding they serve. An Encoding is a small number so that
// callers may index arrays by it (see NumEncodings); methods other than
// String panic for a value that is neither JSON nor Protobuf.
type Encoding uint8

const (
	// JSON is the text encoding: one JSON object per message, messages of a
	// frame separated by newlines. The default.
	JSON Encoding = iota
	// Protobuf is the binary encoding: messages of the types in package pb,
	// each prefixed by its length as an unsigned varint.
	Protobuf
)

// NumEncodings is the number of encodings, for arrays indexed by Encoding.
const NumEncodings = 2

// WebSocket subprotocols naming the encodings.
const (
	SubprotocolJSON     = "herald.v1.json"
	SubprotocolProtobuf = "herald.v1.proto"
)

// String returns "json" or "protobuf".
func (e Encoding) String() string {
	if e < NumEncodings {
		return codecs[e].name()
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// Subprotocol returns the WebSocket subprotocol that selects e.
func (e Encoding) Subprotocol() string { return codecs[e].subprotocol() }

// Binary reports whether e travels in binary frames (text frames otherwise).
func (e Encoding) Binary() bool { return codecs[e].binary() }

// Separator returns what goes between two messages batched into one frame:
// a newline for JSON, nothing for Protobuf. The slice is shared; never
// modify it.
func (e Encoding) Separator() []byte { return codecs[e].separator() }

// DecodeFrame decodes a frame of one or more commands and calls fn for each,
// in order. It stops at the first malformed command, returning an error that
// wraps ErrMalformed, or at the first error fn returns.
func (e Encoding) DecodeFrame(frame []byte, fn func(*Command) error) error {
	return codecs[e].decodeFrame(frame, fn)
}

// ErrTooManyCommands is returned by DecodeFrameLimit for a frame that
// batches more commands than allowed. The connection is closed with 4500.
var ErrTooManyCommands = errors.New("protocol: too many commands in one frame")

// DecodeFrameLimit is DecodeFrame for frames of at most limit commands. A
// frame with more is refused whole, before fn sees any of its commands,
// with an error that wraps ErrTooManyCommands: a client learns that its
// batch was too large without having to work out which part ran. Counting
// costs one pass over the frame without decoding it.
func (e Encoding) DecodeFrameLimit(frame []byte, limit int, fn func(*Command) error) error {
	c := codecs[e]
	if c.countCommands(frame, limit) > limit {
		return fmt.Errorf("%w: more than %d", ErrTooManyCommands, limit)
	}
	return c.decodeFrame(frame, fn)
}

// AppendReply appends the reply to a command of type typ (publish and send
// share a result type, and Protobuf tells them apart) whose result is
// result.
func (e Encoding) AppendReply(buf []byte, id uint32, typ string, result Result) ([]byte, error) {
	return codecs[e].appendReply(buf, id, typ, result)
}

// AppendErrorReply appends an error reply.
func (e Encoding) AppendErrorReply(buf []byte, id uint32, err *Error) []byte {
	return codecs[e].appendErrorReply(buf, id, err)
}

// AppendMessagePush appends a message push. It is the hot path of fan-out:
// called once per publication and encoding, so it avoids reflection.
func (e Encoding) AppendMessagePush(buf []byte, channel string, pub *Publication) []byte {
	return codecs[e].appendMessagePush(buf, channel, pub)
}

// AppendDirectPush appends a direct push; pub.Info is ignored (from is the
// sender).
func (e Encoding) AppendDirectPush(buf []byte, from ClientInfo, pub *Publication) []byte {
	return codecs[e].appendDirectPush(buf, from, pub)
}

// AppendPresencePush appends a join or leave push (typ PushJoin or
// PushLeave).
func (e Encoding) AppendPresencePush(buf []byte, typ, channel string, info ClientInfo) []byte {
	return codecs[e].appendPresencePush(buf, typ, channel, info)
}

// AppendSubscribedPush appends a subscribed push: a server-side subscription
// and its subscribe result.
func (e Encoding) AppendSubscribedPush(buf []byte, channel string, res *SubscribeResult) ([]byte, error) {
	return codecs[e].appendSubscribedPush(buf, channel, res)
}

// AppendUnsubscribedPush appends an unsubscribed push.
func (e Encoding) AppendUnsubscribedPush(buf []byte, channel string, code int, reason string) []byte {
	return codecs[e].appendUnsubscribedPush(buf, channel, code, reason)
}

// AppendRefreshNeededPush appends a refresh_needed push.
func (e Encoding) AppendRefreshNeededPush(buf []byte, expires int64) []byte {
	return codecs[e].appendRefreshNeededPush(buf, expires)
}

// AppendDisconnectPush appends a disconnect push.
func (e Encoding) AppendDisconnectPush(buf []byte, d Disconnect) []byte {
	return codecs[e].appendDisconnectPush(buf, d)
}

// PingPush returns the encoded ping push. The slice is shared; never modify
// it.
func (e Encoding) PingPush() []byte { return codecs[e].pingPush() }

// AppendCommand appends a command, for clients. In JSON, Data must hold a
// JSON value; in Protobuf it may hold any bytes.
func (e Encoding) AppendCommand(buf []byte, cmd *Command) ([]byte, error) {
	return codecs[e].appendCommand(buf, cmd)
}

// DecodeServerFrame decodes a frame from the server, for clients, and calls
// fn for each message in order.
func (e Encoding) DecodeServerFrame(frame []byte, fn func(*ServerMessage) error) error {
	return codecs[e].decodeServerFrame(frame, fn)
}

// codec is one encoding's implementation: what it is called and how it
// frames, and each of Encoding's methods, which say what they do.
type codec interface {
	name() string
	subprotocol() string
	binary() bool
	separator() []byte

	decodeFrame(frame []byte, fn func(*Command) error) error
	// countCommands counts the commands of a frame without decoding them,
	// stopping once the count passes limit.
	countCommands(frame []byte, limit int) int
	appendReply(buf []byte, id uint32, typ string, result Result) ([]byte, error)
	appendErrorReply(buf []byte, id uint32, err *Error) []byte
	appendMessagePush(buf []byte, channel string, pub *Publication) []byte
	appendDirectPush(buf []byte, from ClientInfo, pub *Publication) []byte
	appendPresencePush(buf []byte, typ, channel string, info ClientInfo) []byte
	appendSubscribedPush(buf []byte, channel string, res *SubscribeResult) ([]byte, error)
	appendUnsubscribedPush(buf []byte, channel string, code int, reason string) []byte
	appendRefreshNeededPush(buf []byte, expires int64) []byte
	appendDisconnectPush(buf []byte, d Disconnect) []byte
	pingPush() []byte

	appendCommand(buf []byte, cmd *Command) ([]byte, error)
	decodeServerFrame(frame []byte, fn func(*ServerMessage) error) error
}

// codecs holds each encoding's implementation, indexed by Encoding.
var codecs = [NumEncodings]codec{JSON: jsonCodec{}, Protobuf: protobufCodec{}}
