package hub

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/heraldhq/herald/protocol"
)

// control is a node-to-node message carried by the broker to every node: a
// server API action on users, who may be connected to any node, or the
// cluster bookkeeping of nodes.go.
type control struct {
	Op      string             `json:"op"`
	User    string             `json:"user,omitempty"`
	Channel string             `json:"channel,omitempty"`
	Code    protocol.CloseCode `json:"code,omitempty"`
	Reason  string             `json:"reason,omitempty"`

	// From is the sending node's id, To the node a reply is for.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// ID pairs a survey with its replies.
	ID       string         `json:"id,omitempty"`
	Pattern  string         `json:"pattern,omitempty"`
	Channels map[string]int `json:"channels,omitempty"`
	Node     *NodeInfo      `json:"node,omitempty"`
}

const (
	opSubscribe   = "subscribe"
	opUnsubscribe = "unsubscribe"
	opDisconnect  = "disconnect"
	// opNode is a node's periodic report of itself; opNodeLeft its goodbye.
	opNode     = "node"
	opNodeLeft = "node_left"
	// opReport is this node's own reminder to report itself now.
	opReport = "report"
	// opChannels asks every node for its channels; opChannelsReply answers.
	opChannels      = "channels"
	opChannelsReply = "channels_reply"
	// opHistoryRemoved says a channel's stream was dropped: every node
	// closes the channel's subscribers with 4000.
	opHistoryRemoved = "history_removed"
)

// unsubscribedByServer is the code of the unsubscribed push sent when the
// server API removes a subscription (docs/PROTOCOL.md, the unsubscribed
// push).
const unsubscribedByServer = 2000

func (h *Hub) sendControl(ctx context.Context, cmd control) error {
	data, err := json.Marshal(cmd)
	if err != nil {
		return protocol.ErrInternal
	}
	if err := h.broker.PublishControl(ctx, data); err != nil {
		h.log.Error("broker control", "op", cmd.Op, "err", err)
		return protocol.ErrInternal
	}
	return nil
}

// HandleControl receives a node-to-node message. Bookkeeping is done at
// once; actions that touch connections or the broker are queued for the
// control worker, because a broker's delivery goroutine must not block or
// call back into the broker.
func (h *Hub) HandleControl(data []byte) {
	var cmd control
	if err := json.Unmarshal(data, &cmd); err != nil {
		h.log.Error("bad control message", "err", err)
		return
	}
	switch cmd.Op {
	case opNode, opNodeLeft:
		if h.nodes.update(h.id, &cmd) {
			h.controls.push(&control{Op: opReport})
		}
	case opChannelsReply:
		h.surveys.reply(h.id, &cmd)
	default:
		h.controls.push(&cmd)
	}
}

// controlQueue hands control messages from broker delivery to the control
// worker in arrival order, without blocking delivery.
type controlQueue struct {
	mu    sync.Mutex
	items []*control
	wake  chan struct{}
}

func (q *controlQueue) init() { q.wake = make(chan struct{}, 1) }

func (q *controlQueue) push(cmd *control) {
	q.mu.Lock()
	q.items = append(q.items, cmd)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *controlQueue) take() []*control {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// controlWorker applies queued control messages one by one, in order, so
// that an API subscribe followed by an unsubscribe ends unsubscribed.
func (h *Hub) controlWorker() {
	for {
		select {
		case <-h.life.done():
			return
		case <-h.controls.wake:
		}
		for _, cmd := range h.controls.take() {
			h.applyControl(cmd)
		}
	}
}

// applyControl carries out a control command on this node.
func (h *Hub) applyControl(cmd *control) {
	ctx, cancel := h.brokerContext()
	defer cancel()
	switch cmd.Op {
	case opReport:
		h.report(opNode)
		return
	case opChannels:
		if cmd.From != h.id {
			h.answerChannels(ctx, cmd)
		}
		return
	case opHistoryRemoved:
		h.closeStreamSubscribers(cmd.Channel)
		return
	}
	for _, c := range h.users.clientsOf(cmd.User) {
		switch cmd.Op {
		case opSubscribe:
			budget := h.replyBudget()
			res, act, err := c.subscribe(ctx, cmd.Channel, "", nil, true, &budget)
			if err != nil {
				continue // already subscribed, or the connection is closing
			}
			msg, err := c.enc.AppendSubscribedPush(nil, cmd.Channel, res)
			if err != nil {
				c.logger().Error("encode subscribed push", "err", err)
			} else {
				h.obs.Queued(c.enc, protocol.PushSubscribed, 1)
			}
			c.queueActivating(msg, []activation{act})
		case opUnsubscribe:
			c.mu.Lock()
			s := c.subs[cmd.Channel]
			delete(c.subs, cmd.Channel)
			c.mu.Unlock()
			if s == nil {
				continue
			}
			h.removeSubscription(ctx, s)
			c.enqueue(c.enc.AppendUnsubscribedPush(nil, cmd.Channel, unsubscribedByServer, "unsubscribed by server"))
			h.obs.Queued(c.enc, protocol.PushUnsubscribed, 1)
		case opDisconnect:
			c.Disconnect(protocol.NewDisconnect(cmd.Code, cmd.Reason))
		}
	}
}

// closeStreamSubscribers closes every subscriber of channel on this node
// with 4000 ("stream continuity lost"), after its stream was removed: live
// ones, which know the old epoch; catching-up ones, whose next page read
// would find the stream gone anyway; and those whose subscribe reply is
// still being made, which may carry the old position. One that subscribed
// after the removal and is closed too reconnects and recovers with nothing
// missed: a spurious reconnect costs less than a stale subscriber.
func (h *Hub) closeStreamSubscribers(channel string) {
	subs := h.channels.subscriptionsOf(channel)
	for _, s := range subs {
		s.client.Disconnect(disconnectContinuityLost)
	}
	if len(subs) > 0 {
		h.log.Info("history removed: subscribers closed to resubscribe", "channel", channel, "count", len(subs))
	}
}
