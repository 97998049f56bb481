package protocol

// Result is what the reply to a successful command carries: a
// *ConnectResult for connect, *SubscribeResult for subscribe, *EmptyResult
// for unsubscribe, *PublishResult for publish and send, and the
// *PresenceResult, *PresenceStatsResult, *HistoryResult and *RefreshResult
// of the commands they are named after.
//
// The set is closed (the methods are unexported): each result knows how
// every encoding writes it, so that encoding a reply never asks which result
// it holds.
type Result interface {
	// appendJSON appends the result as the JSON encoding's "result"
	// member shows it (json_reply.go).
	appendJSON(buf []byte) ([]byte, error)
	// appendProtoReply appends a whole Protobuf reply carrying the result
	// to the command typ with the given id (proto_reply.go).
	appendProtoReply(buf []byte, id uint32, typ string) []byte
}

var (
	_ Result = (*ConnectResult)(nil)
	_ Result = (*SubscribeResult)(nil)
	_ Result = (*EmptyResult)(nil)
	_ Result = (*PublishResult)(nil)
	_ Result = (*PresenceResult)(nil)
	_ Result = (*PresenceStatsResult)(nil)
	_ Result = (*HistoryResult)(nil)
	_ Result = (*RefreshResult)(nil)
)
