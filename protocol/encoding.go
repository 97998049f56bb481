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
	switch e {
	case JSON:
		return "json"
	case Protobuf:
		return "protobuf"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// Subprotocol returns the WebSocket subprotocol that selects e.
func (e Encoding) Subprotocol() string {
	if e == Protobuf {
		return SubprotocolProtobuf
	}
	return SubprotocolJSON
}

// Binary reports whether e travels in binary frames (text frames otherwise).
func (e Encoding) Binary() bool { return e == Protobuf }

// Separator returns what goes between two messages batched into one frame:
// a newline for JSON, nothing for Protobuf. The slice is shared; never
// modify it.
func (e Encoding) Separator() []byte {
	if e == Protobuf {
		return nil
	}
	return newline
}

var newline = []byte{'\n'}

// DecodeFrame decodes a frame of one or more commands and calls fn for each,
// in order. It stops at the first malformed command, returning an error that
// wraps ErrMalformed, or at the first error fn returns.
func (e Encoding) DecodeFrame(frame []byte, fn func(*Command) error) error {
	if e == Protobuf {
		return decodeProtoFrame(frame, fn)
	}
	return decodeJSONFrame(frame, fn)
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
	count := countJSONCommands
	if e == Protobuf {
		count = countProtoCommands
	}
	if count(frame, limit) > limit {
		return fmt.Errorf("%w: more than %d", ErrTooManyCommands, limit)
	}
	return e.DecodeFrame(frame, fn)
}

// AppendReply appends the reply to a command of type typ whose result is
// result (one of the *Result types of this package, by value or pointer).
func (e Encoding) AppendReply(buf []byte, id uint32, typ string, result any) ([]byte, error) {
	if e == Protobuf {
		return appendProtoReply(buf, id, typ, result)
	}
	return appendJSONReply(buf, id, result)
}

// AppendErrorReply appends an error reply.
func (e Encoding) AppendErrorReply(buf []byte, id uint32, err *Error) []byte {
	if e == Protobuf {
		return appendProtoErrorReply(buf, id, err)
	}
	return appendJSONErrorReply(buf, id, err)
}

// AppendMessagePush appends a message push. It is the hot path of fan-out:
// called once per publication and encoding, so it avoids reflection.
func (e Encoding) AppendMessagePush(buf []byte, channel string, pub *Publication) []byte {
	if e == Protobuf {
		return appendProtoMessagePush(buf, channel, pub)
	}
	return appendJSONMessagePush(buf, channel, pub)
}

// AppendDirectPush appends a direct push; pub.Info is ignored (from is the
// sender).
func (e Encoding) AppendDirectPush(buf []byte, from ClientInfo, pub *Publication) []byte {
	if e == Protobuf {
		return appendProtoDirectPush(buf, from, pub)
	}
	return appendJSONDirectPush(buf, from, pub)
}

// AppendPresencePush appends a join or leave push (typ PushJoin or
// PushLeave).
func (e Encoding) AppendPresencePush(buf []byte, typ, channel string, info ClientInfo) []byte {
	if e == Protobuf {
		return appendProtoPresencePush(buf, typ, channel, info)
	}
	return appendJSONPresencePush(buf, typ, channel, info)
}

// AppendSubscribedPush appends a subscribed push: a server-side subscription
// and its subscribe result.
func (e Encoding) AppendSubscribedPush(buf []byte, channel string, res *SubscribeResult) ([]byte, error) {
	if e == Protobuf {
		m := subscribedToPB(channel, res)
		return appendProto(buf, m), nil
	}
	return appendJSONPush(buf, PushSubscribed, struct {
		Channel string `json:"channel"`
		*SubscribeResult
	}{channel, res})
}

// AppendUnsubscribedPush appends an unsubscribed push.
func (e Encoding) AppendUnsubscribedPush(buf []byte, channel string, code int, reason string) []byte {
	if e == Protobuf {
		return appendProto(buf, unsubscribedToPB(channel, code, reason))
	}
	b, _ := appendJSONPush(buf, PushUnsubscribed, struct {
		Channel string `json:"channel"`
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
	}{channel, code, reason})
	return b
}

// AppendRefreshNeededPush appends a refresh_needed push.
func (e Encoding) AppendRefreshNeededPush(buf []byte, expires int64) []byte {
	if e == Protobuf {
		return appendProto(buf, refreshNeededToPB(expires))
	}
	b, _ := appendJSONPush(buf, PushRefreshNeeded, struct {
		Expires int64 `json:"expires"`
	}{expires})
	return b
}

// AppendDisconnectPush appends a disconnect push.
func (e Encoding) AppendDisconnectPush(buf []byte, d Disconnect) []byte {
	if e == Protobuf {
		return appendProto(buf, disconnectToPB(d))
	}
	return appendJSONDisconnectPush(buf, d)
}

// PingPush returns the encoded ping push. The slice is shared; never modify
// it.
func (e Encoding) PingPush() []byte {
	if e == Protobuf {
		return protoPing
	}
	return jsonPing
}

// AppendCommand appends a command, for clients. In JSON, Data must hold a
// JSON value; in Protobuf it may hold any bytes.
func (e Encoding) AppendCommand(buf []byte, cmd *Command) ([]byte, error) {
	if e == Protobuf {
		return appendProto(buf, commandToPB(cmd)), nil
	}
	return appendJSONCommand(buf, cmd)
}

// DecodeServerFrame decodes a frame from the server, for clients, and calls
// fn for each message in order.
func (e Encoding) DecodeServerFrame(frame []byte, fn func(*ServerMessage) error) error {
	if e == Protobuf {
		return decodeProtoServerFrame(frame, fn)
	}
	return decodeJSONServerFrame(frame, fn)
}
