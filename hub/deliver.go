package hub

import (
	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

// The hub is the broker's Handler: these methods run on the broker's delivery
// goroutines. Each encodes its push once and shares the bytes among every
// recipient; none blocks.

var _ broker.Handler = (*Hub)(nil)

// HandlePublication fans a publication out to the channel's subscribers on
// this node.
func (h *Hub) HandlePublication(channel string, pub *broker.Publication, pos broker.StreamPosition) {
	f := outbound.NewFanout(&h.writers)
	n, rounds := h.channels.forEach(channel, func(enc protocol.Encoding) []byte {
		wire := h.toWire(pub)
		return enc.AppendMessagePush(make([]byte, 0, 96+len(channel)+len(pub.Data)), channel, &wire)
	}, func(s *subscription, msg *outbound.Shared) {
		s.deliverTo(pub.Offset, pos.Epoch, msg, pub.Time, f)
	})
	rounds.Start(f)
	h.countQueued(protocol.PushMessage, n)
	h.metrics.delivered.Add(int64(n[protocol.JSON] + n[protocol.Protobuf]))
}

// countQueued reports pushes of one kind fanned out, per encoding.
func (h *Hub) countQueued(kind string, n [protocol.NumEncodings]int) {
	for enc, k := range n {
		if k > 0 {
			h.obs.Queued(protocol.Encoding(enc), kind, k)
		}
	}
}

// HandleJoin sends a join push to the channel's subscribers whose namespace
// has join/leave events on, within the channel's join/leave rate
// (joinleave.go).
func (h *Hub) HandleJoin(channel string, info *broker.ClientInfo) {
	h.presencePush(protocol.PushJoin, channel, protocol.ClientInfo{User: info.User, Client: info.Client})
}

// HandleLeave sends a leave push, as HandleJoin.
func (h *Hub) HandleLeave(channel string, info *broker.ClientInfo) {
	h.presencePush(protocol.PushLeave, channel, protocol.ClientInfo{User: info.User, Client: info.Client})
}

// fanPresence sends a join or leave push to the channel's subscribers on
// this node whose namespace has join/leave events on.
func (h *Hub) fanPresence(channel string, ev presenceEvent) {
	var n [protocol.NumEncodings]int
	h.channels.forEach(channel, func(enc protocol.Encoding) []byte {
		return enc.AppendPresencePush(nil, ev.typ, channel, ev.info)
	}, func(s *subscription, msg *outbound.Shared) {
		if s.ns.JoinLeave {
			s.deliver(0, "", msg, 0)
			n[s.client.enc]++
		}
	})
	h.countQueued(ev.typ, n)
}

// HandleDirect delivers a direct message to every connection of its user on
// this node.
func (h *Hub) HandleDirect(user string, pub *broker.Publication, pos broker.StreamPosition) {
	var msgs [protocol.NumEncodings]*outbound.Shared
	var n [protocol.NumEncodings]int
	h.users.forEach(user, func(c *Client) {
		if c.inbox == nil {
			return
		}
		if msgs[c.enc] == nil {
			var from protocol.ClientInfo
			if pub.Info != nil {
				from = protocol.ClientInfo{User: pub.Info.User, Client: pub.Info.Client}
			}
			wire := h.toWire(pub)
			msgs[c.enc] = outbound.NewShared(c.enc.AppendDirectPush(nil, from, &wire))
		}
		c.inbox.deliver(pub.Offset, pos.Epoch, msgs[c.enc], pub.Time)
		n[c.enc]++
	})
	h.countQueued(protocol.PushDirect, n)
	h.metrics.delivered.Add(int64(n[protocol.JSON] + n[protocol.Protobuf]))
}

// toWire converts a broker publication to its wire form, with the depth
// past which the JSON encoding carries its data as b64.
func (h *Hub) toWire(pub *broker.Publication) protocol.Publication {
	w := protocol.Publication{Offset: pub.Offset, Data: pub.Data, Time: pub.Time, JSON: pub.JSON, MaxDepth: h.cfg.MaxDataDepth}
	if pub.Info != nil {
		w.Info = &protocol.ClientInfo{User: pub.Info.User, Client: pub.Info.Client}
	}
	return w
}

func (h *Hub) toWireList(pubs []*broker.Publication) []*protocol.Publication {
	out := make([]*protocol.Publication, len(pubs))
	for i, p := range pubs {
		w := h.toWire(p)
		out[i] = &w
	}
	return out
}
