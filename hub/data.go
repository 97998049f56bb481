package hub

import (
	"encoding/json"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/protocol"
)

// The JSON encoding carries data inline only when it is valid JSON nested
// no deeper than MaxDataDepth, and as b64 otherwise, whoever published it:
// a JSON client's data is refused past the depth (107), but a Protobuf
// client's and the server API's reach JSON clients too, and one nested
// 10,000 deep would make every JSON parser downstream fail. The check is
// made once when the data is published and recorded in the publication
// (broker.Publication.JSON); publications that come back from a broker
// without the record are checked by the encoder against the depth toWire
// gives them.

// markJSON records whether pub's data may travel inline to JSON clients.
// A JSON client's publish is marked already: its command was parsed and
// its depth checked.
func (h *Hub) markJSON(pub *broker.Publication) {
	if !pub.JSON {
		pub.JSON = protocol.InlineJSON(pub.Data, h.cfg.MaxDataDepth)
	}
}

// presenceInfo is a presence entry's info as replies show it: the
// connection's info claim when it is valid JSON within MaxDataDepth, nothing
// otherwise. The protocol has no b64 form for info, and a reply that cannot
// be encoded would fail the whole presence call, for JSON clients and the
// server API alike.
func (h *Hub) presenceInfo(info []byte) json.RawMessage {
	if len(info) == 0 || !protocol.InlineJSON(info, h.cfg.MaxDataDepth) {
		return nil
	}
	return info
}
