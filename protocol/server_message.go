package protocol

import (
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/protocol/pb"
)

// ServerMessage is one message from the server as a client sees it,
// whatever the encoding: a reply when ID is set, a push otherwise. Its
// fields are the union of every push type's; which ones are set depends on
// Type.
type ServerMessage struct {
	// Replies.
	ID    uint32
	Error *Error

	// Pushes.
	Type    string
	Channel string
	Offset  uint64
	// Data is the payload of message and direct pushes: the published bytes,
	// whether they travelled as JSON, as "b64" or as Protobuf bytes.
	Data []byte
	Info *ClientInfo
	From ClientInfo
	Time int64
	// Subscribed pushes carry a subscribe result: Offset, Epoch, Recovered
	// and Publications.
	Epoch        string
	Recovered    *bool
	Publications []*Publication
	// Unsubscribed and disconnect pushes.
	Code      int
	Reason    string
	Reconnect bool
	// refresh_needed.
	Expires int64

	// The reply's result in its wire form: one of these is set.
	rawResult json.RawMessage
	pbResult  *pb.ServerMessage
}

// HasResult reports whether the message is a successful reply.
func (m *ServerMessage) HasResult() bool {
	return m.ID != 0 && m.Error == nil && (m.rawResult != nil || m.pbResult != nil)
}

// DecodeResult decodes a successful reply's result into out, a pointer to
// the result type of the command it answers (*ConnectResult for connect,
// *PublishResult for publish and send, and so on: see Result).
func (m *ServerMessage) DecodeResult(out Result) error {
	switch {
	case m.rawResult != nil:
		return json.Unmarshal(m.rawResult, out)
	case m.pbResult != nil:
		return resultFromPB(m.pbResult, out)
	}
	return fmt.Errorf("protocol: message %d has no result", m.ID)
}

// ResultJSON returns a successful reply's result as the JSON encoding would
// carry it, whatever the encoding it arrived in: for tools that print or
// relay results.
func (m *ServerMessage) ResultJSON() (json.RawMessage, error) {
	switch {
	case m.rawResult != nil:
		return m.rawResult, nil
	case m.pbResult != nil:
		v, err := resultValueFromPB(m.pbResult)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	return nil, fmt.Errorf("protocol: message %d has no result", m.ID)
}
