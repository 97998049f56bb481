package hub

import (
	"context"
	"errors"
	"sync"

	"github.com/heraldhq/herald/protocol"
)

// Control messages are node-to-node messages carried by the broker to
// every node: server API actions on users, who may be connected to any
// node, and the cluster bookkeeping of nodes.go. Each is a type of its own;
// on the wire it is a JSON object whose "op" names the type, beside the
// type's fields (control_wire.go), the format every version so far speaks.

// controlMessage is one of the message types below.
type controlMessage interface {
	// op names the message's type on the wire.
	op() string
}

// subscribeUser subscribes every connection of a user to a channel.
type subscribeUser struct {
	User    string `json:"user,omitempty"`
	Channel string `json:"channel,omitempty"`
}

// unsubscribeUser unsubscribes every connection of a user from a channel.
type unsubscribeUser struct {
	User    string `json:"user,omitempty"`
	Channel string `json:"channel,omitempty"`
}

// disconnectUser closes every connection of a user.
type disconnectUser struct {
	User   string             `json:"user,omitempty"`
	Code   protocol.CloseCode `json:"code,omitempty"`
	Reason string             `json:"reason,omitempty"`
}

// historyRemoved says a channel's stream was dropped: every node closes
// the channel's subscribers with 4000.
type historyRemoved struct {
	Channel string `json:"channel,omitempty"`
}

// nodeReport is a node's periodic report of itself.
type nodeReport struct {
	From string    `json:"from,omitempty"`
	Node *NodeInfo `json:"node,omitempty"`
}

// nodeLeft is a node's goodbye.
type nodeLeft struct {
	From string `json:"from,omitempty"`
}

// channelsSurvey asks every node for its channels matching Pattern; ID
// pairs it with its replies.
type channelsSurvey struct {
	From    string `json:"from,omitempty"`
	ID      string `json:"id,omitempty"`
	Pattern string `json:"pattern,omitempty"`
}

// channelsReply answers a survey, for node To only.
type channelsReply struct {
	From     string         `json:"from,omitempty"`
	To       string         `json:"to,omitempty"`
	ID       string         `json:"id,omitempty"`
	Channels map[string]int `json:"channels,omitempty"`
}

// reportNow is this node's own reminder to report itself now; it never
// leaves the node.
type reportNow struct{}

func (subscribeUser) op() string   { return "subscribe" }
func (unsubscribeUser) op() string { return "unsubscribe" }
func (disconnectUser) op() string  { return "disconnect" }
func (historyRemoved) op() string  { return "history_removed" }
func (nodeReport) op() string      { return "node" }
func (nodeLeft) op() string        { return "node_left" }
func (channelsSurvey) op() string  { return "channels" }
func (channelsReply) op() string   { return "channels_reply" }
func (reportNow) op() string       { return "report" }

// unsubscribedByServer is the code of the unsubscribed push sent when the
// server API removes a subscription (docs/PROTOCOL.md, the unsubscribed
// push).
const unsubscribedByServer = 2000

func (h *Hub) sendControl(ctx context.Context, m controlMessage) error {
	data, err := encodeControl(m)
	if err != nil {
		return protocol.ErrInternal
	}
	if err := h.broker.PublishControl(ctx, data); err != nil {
		h.log.Error("broker control", "op", m.op(), "err", err)
		return protocol.ErrInternal
	}
	return nil
}

// HandleControl receives a node-to-node message. Bookkeeping is done at
// once; actions that touch connections or the broker are queued for the
// control worker, because a broker's delivery goroutine must not block or
// call back into the broker.
func (h *Hub) HandleControl(data []byte) {
	m, err := decodeControl(data)
	if errors.Is(err, errUnknownControl) {
		// From a newer node, during a rolling upgrade: not for this one.
		h.log.Debug("control message ignored", "err", err)
		return
	}
	if err != nil {
		h.log.Error("bad control message", "err", err)
		return
	}
	switch m := m.(type) {
	case nodeReport:
		if h.nodes.report(h.id, m.From, m.Node) {
			h.controls.push(reportNow{})
		}
	case nodeLeft:
		h.nodes.leave(h.id, m.From)
	case channelsReply:
		h.surveys.reply(h.id, m)
	case sessionAnswer:
		h.sessions.answered(h.id, m)
	case sessionCommand:
		// Every node hears it; only the one holding the session acts.
		if m.To == h.id {
			h.controls.push(m)
		}
	default:
		h.controls.push(m)
	}
}

// controlQueue hands control messages from broker delivery to the control
// worker in arrival order, without blocking delivery.
type controlQueue struct {
	mu    sync.Mutex
	items []controlMessage
	wake  chan struct{}
}

func (q *controlQueue) init() { q.wake = make(chan struct{}, 1) }

func (q *controlQueue) push(m controlMessage) {
	q.mu.Lock()
	q.items = append(q.items, m)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *controlQueue) take() []controlMessage {
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
		for _, m := range h.controls.take() {
			h.applyControl(m)
		}
	}
}

// applyControl carries out a control message on this node.
func (h *Hub) applyControl(m controlMessage) {
	ctx, cancel := h.brokerContext()
	defer cancel()
	switch m := m.(type) {
	case reportNow:
		h.report()
	case channelsSurvey:
		if m.From != h.id {
			h.answerChannels(ctx, m)
		}
	case historyRemoved:
		h.closeStreamSubscribers(m.Channel)
	case sessionCommand:
		h.answerSession(ctx, m)
	case subscribeUser:
		for _, c := range h.users.clientsOf(m.User) {
			h.subscribeByServer(ctx, c, m.Channel)
		}
	case unsubscribeUser:
		for _, c := range h.users.clientsOf(m.User) {
			h.unsubscribeByServer(ctx, c, m.Channel)
		}
	case disconnectUser:
		for _, c := range h.users.clientsOf(m.User) {
			c.Disconnect(protocol.NewDisconnect(m.Code, m.Reason))
		}
	}
}

// subscribeByServer subscribes c to channel for the server API and tells
// it so with a subscribed push.
func (h *Hub) subscribeByServer(ctx context.Context, c *Client, channel string) {
	budget := h.replyBudget()
	res, act, err := c.subscribe(ctx, channel, "", nil, true, &budget)
	if err != nil {
		return // already subscribed, or the connection is closing
	}
	msg, err := c.enc.AppendSubscribedPush(nil, channel, res)
	if err != nil {
		c.logger().Error("encode subscribed push", "err", err)
	} else {
		h.obs.Queued(c.enc, protocol.PushSubscribed, 1)
	}
	c.queueActivating(msg, []activation{act})
}

// unsubscribeByServer removes c's subscription to channel for the server
// API and tells it so with an unsubscribed push.
func (h *Hub) unsubscribeByServer(ctx context.Context, c *Client, channel string) {
	c.mu.Lock()
	s := c.subs.remove(channel)
	c.mu.Unlock()
	if s == nil {
		return
	}
	h.removeSubscription(ctx, s)
	c.enqueue(c.enc.AppendUnsubscribedPush(nil, channel, unsubscribedByServer, "unsubscribed by server"))
	h.obs.Queued(c.enc, protocol.PushUnsubscribed, 1)
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
