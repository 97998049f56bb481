package protocol

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/heraldhq/herald/protocol/pb"
)

// The Protobuf encoding of replies: a pb.ServerMessage with the id and the
// result in the oneof field of the command's type.

func (protobufCodec) appendReply(buf []byte, id uint32, typ string, result Result) ([]byte, error) {
	return result.appendProtoReply(buf, id, typ), nil
}

func (r *ConnectResult) appendProtoReply(buf []byte, id uint32, _ string) []byte {
	return appendProto(buf, &pb.ServerMessage{Id: id, Result: &pb.ServerMessage_Connect{Connect: connectResultToPB(r)}})
}

func (r *SubscribeResult) appendProtoReply(buf []byte, id uint32, _ string) []byte {
	return appendProto(buf, &pb.ServerMessage{Id: id, Result: &pb.ServerMessage_Subscribe{Subscribe: subscribeResultToPB(r)}})
}

// appendProtoReply answers unsubscribe, the only command whose result is
// empty.
func (r *EmptyResult) appendProtoReply(buf []byte, id uint32, _ string) []byte {
	return appendProto(buf, &pb.ServerMessage{Id: id, Result: &pb.ServerMessage_Unsubscribe{Unsubscribe: &pb.UnsubscribeResult{}}})
}

func (r *PresenceResult) appendProtoReply(buf []byte, id uint32, _ string) []byte {
	clients := make(map[string]*pb.PresenceEntry, len(r.Clients))
	for client, e := range r.Clients {
		clients[client] = &pb.PresenceEntry{User: e.User, Info: e.Info}
	}
	return appendProto(buf, &pb.ServerMessage{Id: id, Result: &pb.ServerMessage_Presence{Presence: &pb.PresenceResult{Clients: clients}}})
}

func (r *PresenceStatsResult) appendProtoReply(buf []byte, id uint32, _ string) []byte {
	stats := &pb.PresenceStatsResult{Clients: uint32(r.Clients), Users: uint32(r.Users)}
	return appendProto(buf, &pb.ServerMessage{Id: id, Result: &pb.ServerMessage_PresenceStats{PresenceStats: stats}})
}

func (r *HistoryResult) appendProtoReply(buf []byte, id uint32, _ string) []byte {
	history := &pb.HistoryResult{Publications: publicationsToPB(r.Publications), Offset: r.Offset, Epoch: r.Epoch}
	return appendProto(buf, &pb.ServerMessage{Id: id, Result: &pb.ServerMessage_History{History: history}})
}

func (r *RefreshResult) appendProtoReply(buf []byte, id uint32, _ string) []byte {
	return appendProto(buf, &pb.ServerMessage{Id: id, Result: &pb.ServerMessage_Refresh{Refresh: &pb.RefreshResult{Expires: r.Expires}}})
}

// Field numbers of the publish reply: pb.ServerMessage's id and its publish
// and send results, and pb.PublishResult's fields.
const (
	fieldID            protowire.Number = 15
	fieldPublishResult protowire.Number = 20
	fieldSendResult    protowire.Number = 24
	fieldResultOffset  protowire.Number = 1
	fieldResultEpoch   protowire.Number = 2
)

// appendProtoReply answers publish and send, which share a result and tell
// it apart by the field it is in. Their replies are as frequent as
// publications: they are written directly, like the pushes.
func (r *PublishResult) appendProtoReply(buf []byte, id uint32, typ string) []byte {
	field := fieldPublishResult
	if typ == TypeSend {
		field = fieldSendResult
	}
	res := sizeVarintField(r.Offset) + sizeBytesField(len(r.Epoch))
	n := sizeVarintField(uint64(id)) + protowire.SizeTag(field) + protowire.SizeBytes(res)
	buf = protowire.AppendVarint(buf, uint64(n))
	buf = appendVarintField(buf, fieldID, uint64(id))
	buf = protowire.AppendTag(buf, field, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(res))
	buf = appendVarintField(buf, fieldResultOffset, r.Offset)
	return appendStringField(buf, fieldResultEpoch, r.Epoch)
}
