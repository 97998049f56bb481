package protocol

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/protocol/pb"
)

// protobufCodec is the Protobuf encoding: messages of the types in package
// pb, each prefixed by its length as an unsigned varint. Pushes that fan out
// (message, direct, join/leave) are written field by field with protowire:
// once per publication, without building a pb message first. Everything
// else goes through the generated types; TestProtoPushesMatchGenerated
// checks that both agree.
type protobufCodec struct{}

func (protobufCodec) name() string        { return "protobuf" }
func (protobufCodec) subprotocol() string { return SubprotocolProtobuf }
func (protobufCodec) binary() bool        { return true }
func (protobufCodec) separator() []byte   { return nil }

// Field numbers of pb.ServerMessage and pb.ClientInfo used by the hand
// encoders.
const (
	fieldType    protowire.Number = 1
	fieldChannel protowire.Number = 2
	fieldOffset  protowire.Number = 3
	fieldData    protowire.Number = 4
	fieldInfo    protowire.Number = 5
	fieldTime    protowire.Number = 6
	fieldFrom    protowire.Number = 7

	fieldUser   protowire.Number = 1
	fieldClient protowire.Number = 2
)

// Every field of the hand-encoded messages has a number below 16, so its tag
// is one byte.
func sizeBytesField(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(n)
}

func sizeVarintField(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func appendBytesField(buf []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendBytes(buf, b)
}

func appendStringField(buf []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendString(buf, s)
}

func appendVarintField(buf []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.VarintType)
	return protowire.AppendVarint(buf, v)
}

func sizeClientInfo(ci *ClientInfo) int {
	return sizeBytesField(len(ci.User)) + sizeBytesField(len(ci.Client))
}

// appendClientInfoField appends ci as a nested message, present even when
// empty so that the receiver sees the field set.
func appendClientInfoField(buf []byte, num protowire.Number, ci *ClientInfo, size int) []byte {
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(size))
	buf = appendStringField(buf, fieldUser, ci.User)
	return appendStringField(buf, fieldClient, ci.Client)
}

func (protobufCodec) appendMessagePush(buf []byte, channel string, pub *Publication) []byte {
	infoSize := 0
	n := sizeBytesField(len(PushMessage)) + sizeBytesField(len(channel)) +
		sizeVarintField(pub.Offset) + sizeBytesField(len(pub.Data)) + sizeVarintField(uint64(pub.Time))
	if pub.Info != nil {
		infoSize = sizeClientInfo(pub.Info)
		n += 1 + protowire.SizeBytes(infoSize)
	}
	buf = protowire.AppendVarint(buf, uint64(n))
	buf = appendStringField(buf, fieldType, PushMessage)
	buf = appendStringField(buf, fieldChannel, channel)
	buf = appendVarintField(buf, fieldOffset, pub.Offset)
	buf = appendBytesField(buf, fieldData, pub.Data)
	if pub.Info != nil {
		buf = appendClientInfoField(buf, fieldInfo, pub.Info, infoSize)
	}
	return appendVarintField(buf, fieldTime, uint64(pub.Time))
}

func (protobufCodec) appendDirectPush(buf []byte, from ClientInfo, pub *Publication) []byte {
	fromSize := sizeClientInfo(&from)
	n := sizeBytesField(len(PushDirect)) + sizeVarintField(pub.Offset) + sizeBytesField(len(pub.Data)) +
		sizeVarintField(uint64(pub.Time)) + 1 + protowire.SizeBytes(fromSize)
	buf = protowire.AppendVarint(buf, uint64(n))
	buf = appendStringField(buf, fieldType, PushDirect)
	buf = appendVarintField(buf, fieldOffset, pub.Offset)
	buf = appendBytesField(buf, fieldData, pub.Data)
	buf = appendVarintField(buf, fieldTime, uint64(pub.Time))
	return appendClientInfoField(buf, fieldFrom, &from, fromSize)
}

func (protobufCodec) appendPresencePush(buf []byte, typ, channel string, info ClientInfo) []byte {
	infoSize := sizeClientInfo(&info)
	n := sizeBytesField(len(typ)) + sizeBytesField(len(channel)) + 1 + protowire.SizeBytes(infoSize)
	buf = protowire.AppendVarint(buf, uint64(n))
	buf = appendStringField(buf, fieldType, typ)
	buf = appendStringField(buf, fieldChannel, channel)
	return appendClientInfoField(buf, fieldInfo, &info, infoSize)
}

func (protobufCodec) appendSubscribedPush(buf []byte, channel string, res *SubscribeResult) ([]byte, error) {
	return appendProto(buf, subscribedToPB(channel, res)), nil
}

func (protobufCodec) appendUnsubscribedPush(buf []byte, channel string, code int, reason string) []byte {
	return appendProto(buf, unsubscribedToPB(channel, code, reason))
}

func (protobufCodec) appendRefreshNeededPush(buf []byte, expires int64) []byte {
	return appendProto(buf, refreshNeededToPB(expires))
}

func (protobufCodec) appendDisconnectPush(buf []byte, d Disconnect) []byte {
	return appendProto(buf, disconnectToPB(d))
}

var protoPing = appendProto(nil, &pb.ServerMessage{Type: PushPing})

func (protobufCodec) pingPush() []byte { return protoPing }

func (protobufCodec) appendCommand(buf []byte, cmd *Command) ([]byte, error) {
	return appendProto(buf, commandToPB(cmd)), nil
}

// appendProto appends m with its length prefix.
func appendProto(buf []byte, m proto.Message) []byte {
	buf = protowire.AppendVarint(buf, uint64(proto.Size(m)))
	// Marshalling a message of the generated types cannot fail: every
	// string was valid UTF-8 when it reached the server (JSON and Protobuf
	// decoding both check), and required fields do not exist in proto3.
	buf, _ = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, m)
	return buf
}

func (protobufCodec) appendErrorReply(buf []byte, id uint32, e *Error) []byte {
	return appendProto(buf, &pb.ServerMessage{Id: id, Error: errorToPB(e)})
}

// nextProto splits the first length-prefixed message off frame.
func nextProto(frame []byte) (msg, rest []byte, err error) {
	n, k := protowire.ConsumeVarint(frame)
	if k < 0 {
		return nil, nil, fmt.Errorf("%w: bad length prefix", ErrMalformed)
	}
	frame = frame[k:]
	if n > uint64(len(frame)) {
		// The declared length is not quoted: it is the peer's bytes.
		return nil, nil, fmt.Errorf("%w: declared length past the %d bytes left in the frame", ErrMalformed, len(frame))
	}
	return frame[:n], frame[n:], nil
}

// countCommands counts the length-prefixed messages of a Protobuf frame. A
// malformed prefix ends the count; decoding then reports it.
func (protobufCodec) countCommands(frame []byte, limit int) int {
	n := 0
	for len(frame) > 0 && n <= limit {
		_, rest, err := nextProto(frame)
		if err != nil {
			break
		}
		frame = rest
		n++
	}
	return n
}

// malformedProto describes a message that is not a valid pb message of the
// named type, by its place in the frame only, as malformedJSON does: what a
// peer sent never reaches a log through an error.
func malformedProto(index int, typ string) error {
	return fmt.Errorf("%w: message %d: not a valid %s (wire format, or a string that is not UTF-8)", ErrMalformed, index, typ)
}

// decodeFrame decodes a binary frame of length-prefixed pb.Command
// messages.
func (protobufCodec) decodeFrame(frame []byte, fn func(*Command) error) error {
	if len(frame) == 0 {
		return fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	for n := 1; len(frame) > 0; n++ {
		msg, rest, err := nextProto(frame)
		if err != nil {
			return err
		}
		frame = rest
		var m pb.Command
		if err := proto.Unmarshal(msg, &m); err != nil {
			return malformedProto(n, "Command")
		}
		if m.Type == "" {
			return fmt.Errorf("%w: message %d: missing type", ErrMalformed, n)
		}
		if err := fn(commandFromPB(&m)); err != nil {
			return err
		}
	}
	return nil
}

// decodeServerFrame decodes a binary frame of length-prefixed
// pb.ServerMessage messages.
func (protobufCodec) decodeServerFrame(frame []byte, fn func(*ServerMessage) error) error {
	for n := 1; len(frame) > 0; n++ {
		msg, rest, err := nextProto(frame)
		if err != nil {
			return err
		}
		frame = rest
		m := new(pb.ServerMessage)
		if err := proto.Unmarshal(msg, m); err != nil {
			return malformedProto(n, "ServerMessage")
		}
		if err := fn(serverMessageFromPB(m)); err != nil {
			return err
		}
	}
	return nil
}
