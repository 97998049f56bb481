package hub

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/protocol"
)

// The client commands other than connect and subscribe. Each returns the
// result to reply with or a *protocol.Error.

func (c *Client) publish(ctx context.Context, cmd *protocol.Command) (protocol.Result, error) {
	ns, err := c.hub.namespace(cmd.Channel)
	if err != nil {
		return nil, err
	}
	if err := c.checkData(cmd.Data); err != nil {
		return nil, err
	}
	user := c.User()
	if !userAllowed(cmd.Channel, user) || !allows(ns.AllowPublish, user, c.subscribed(cmd.Channel)) {
		return nil, protocol.ErrPermissionDenied
	}
	if !c.hub.allowChannelPublish(cmd.Channel, ns) {
		c.hub.obs.RateLimited(LimitChannel)
		return nil, errChannelPublishRate
	}
	if err := c.checkNewChannel(ns, cmd.Channel); err != nil {
		return nil, err
	}
	// A JSON client's data was parsed with its command: it is JSON.
	pub := &broker.Publication{Data: cmd.Data, Info: c.clientInfo(false), JSON: c.enc == protocol.JSON}
	res, err := c.hub.publish(ctx, cmd.Channel, ns, pub, "")
	c.countNewChannel(ns, err == nil && res.Offset == 1)
	return &res, err
}

// checkData refuses empty data and, from JSON clients, data nested deeper
// than the configured depth, which would burden every JSON receiver's
// parser. Protobuf clients' data is opaque bytes.
func (c *Client) checkData(data []byte) error {
	if len(data) == 0 {
		return protocol.NewError(protocol.CodeBadRequest, "data required")
	}
	if c.enc == protocol.JSON && protocol.JSONDepth(data) > c.hub.cfg.MaxDataDepth {
		return errDataTooDeep
	}
	return nil
}

// readAccess checks a presence or history request: the feature must be on
// for the namespace (108) and the client allowed by its mode (103).
func (c *Client) readAccess(channel string, feature func(*Namespace) (bool, AccessMode)) (*Namespace, error) {
	ns, err := c.hub.namespace(channel)
	if err != nil {
		return nil, err
	}
	on, mode := feature(ns)
	if !on {
		return nil, protocol.ErrNotAvailable
	}
	user := c.User()
	if !userAllowed(channel, user) || !allows(mode, user, c.subscribed(channel)) {
		return nil, protocol.ErrPermissionDenied
	}
	return ns, nil
}

func presenceFeature(ns *Namespace) (bool, AccessMode) { return ns.Presence, ns.AllowPresence }
func historyFeature(ns *Namespace) (bool, AccessMode)  { return ns.KeepsHistory(), ns.AllowHistory }

func (c *Client) presence(ctx context.Context, channel string) (protocol.Result, error) {
	if _, err := c.readAccess(channel, presenceFeature); err != nil {
		return nil, err
	}
	return c.hub.presence(ctx, channel)
}

func (c *Client) presenceStats(ctx context.Context, channel string) (protocol.Result, error) {
	if _, err := c.readAccess(channel, presenceFeature); err != nil {
		return nil, err
	}
	return c.hub.presenceStats(ctx, channel)
}

func (c *Client) history(ctx context.Context, cmd *protocol.Command) (protocol.Result, error) {
	ns, err := c.readAccess(cmd.Channel, historyFeature)
	if err != nil {
		return nil, err
	}
	if err := c.checkNewChannel(ns, cmd.Channel); err != nil {
		return nil, err
	}
	res, err := c.hub.history(ctx, cmd.Channel, ns, cmd.Limit, cmd.Since, cmd.Reverse, c.hub.cfg.WriteQueueBytes)
	c.countNewChannel(ns, err == nil && res.Offset == 0)
	return res, err
}

func (c *Client) send(ctx context.Context, cmd *protocol.Command) (protocol.Result, error) {
	if cmd.User == "" {
		return nil, protocol.NewError(protocol.CodeBadRequest, "user required")
	}
	if err := c.checkData(cmd.Data); err != nil {
		return nil, err
	}
	from := c.clientInfo(false)
	if from.User == "" {
		return nil, protocol.NewError(protocol.CodePermissionDenied, "anonymous connections cannot send")
	}
	if err := c.checkSend(from.User, cmd.User); err != nil {
		return nil, err
	}
	res, err := c.hub.send(ctx, cmd.User, cmd.Data, from)
	c.countSend(from.User, cmd.User, res, err)
	return &res, err
}

// The operations below are shared by client commands and the server API;
// permission checks happen before them.

func (h *Hub) publish(ctx context.Context, channel string, ns *Namespace, pub *broker.Publication, idempotencyKey string) (protocol.PublishResult, error) {
	h.markJSON(pub)
	opts := broker.PublishOptions{IdempotencyKey: idempotencyKey, IdempotencyTTL: h.cfg.IdempotencyTTL}
	if ns.KeepsHistory() {
		opts.Stream = broker.StreamOptions{Size: ns.HistorySize, TTL: ns.HistoryTTL, MetaTTL: h.cfg.HistoryMetaTTL}
	}
	pos, _, err := h.broker.Publish(ctx, channel, pub, opts)
	if err != nil {
		h.log.Error("broker publish", "channel", channel, "err", err)
		return protocol.PublishResult{}, protocol.ErrInternal
	}
	h.metrics.published.Add(1)
	return protocol.PublishResult{Offset: pos.Offset, Epoch: pos.Epoch}, nil
}

func (h *Hub) send(ctx context.Context, user string, data []byte, from *broker.ClientInfo) (protocol.PublishResult, error) {
	pub := &broker.Publication{Data: data, Info: from}
	h.markJSON(pub)
	pos, err := h.broker.Send(ctx, user, pub, h.cfg.Inbox)
	if err != nil {
		h.log.Error("broker send", "err", err)
		return protocol.PublishResult{}, protocol.ErrInternal
	}
	return protocol.PublishResult{Offset: pos.Offset, Epoch: pos.Epoch}, nil
}

func (h *Hub) presence(ctx context.Context, channel string) (*protocol.PresenceResult, error) {
	entries, err := h.broker.Presence(ctx, channel)
	if err != nil {
		h.log.Error("broker presence", "channel", channel, "err", err)
		return nil, protocol.ErrInternal
	}
	ids := slices.Collect(maps.Keys(entries))
	if limit := h.cfg.MaxPresenceMembers; limit >= 0 && len(ids) > limit {
		// The smallest ids, so that asking twice gives the same members.
		slices.Sort(ids)
		ids = ids[:limit]
	}
	res := &protocol.PresenceResult{Clients: make(map[string]protocol.PresenceEntry, len(ids))}
	for _, id := range ids {
		e := entries[id]
		res.Clients[id] = protocol.PresenceEntry{User: e.User, Info: h.presenceInfo(e.ConnInfo)}
	}
	return res, nil
}

func (h *Hub) presenceStats(ctx context.Context, channel string) (*protocol.PresenceStatsResult, error) {
	st, err := h.broker.PresenceStats(ctx, channel)
	if err != nil {
		h.log.Error("broker presence stats", "channel", channel, "err", err)
		return nil, protocol.ErrInternal
	}
	return &protocol.PresenceStatsResult{Clients: st.Clients, Users: st.Users}, nil
}

// history reads a channel's stream for the history command and the APIs:
// forward in pages of historyPage publications, each in a catch-up slot,
// refused with 106 as soon as the reply would exceed maxBytes, so that no
// request costs the engine or the node more than a reply's worth.
func (h *Hub) history(ctx context.Context, channel string, ns *Namespace, limit *int, since *protocol.StreamPosition, reverse bool, maxBytes int) (*protocol.HistoryResult, error) {
	want := ns.HistorySize
	if limit != nil {
		if *limit < 0 {
			return nil, protocol.NewError(protocol.CodeBadRequest, "limit must not be negative")
		}
		want = min(*limit, ns.HistorySize)
	}
	r := streamRef{channel: channel}
	var from *broker.StreamPosition
	if since != nil {
		from = &broker.StreamPosition{Offset: since.Offset, Epoch: since.Epoch}
	}
	if want == 0 || reverse && want > historyPage {
		// The position alone (which also checks since), or where the
		// newest want start: reading forward from there takes pages.
		_, pos, err := h.readSlot(ctx, r, broker.HistoryOptions{Since: from, Limit: -1})
		if err != nil {
			return nil, historyError(h, channel, err)
		}
		if want == 0 {
			return &protocol.HistoryResult{Publications: []*protocol.Publication{}, Offset: pos.Offset, Epoch: pos.Epoch}, nil
		}
		start := pos.Offset - min(pos.Offset, uint64(want))
		if from != nil {
			start = max(start, from.Offset)
		}
		pubs, pos, err := h.readForward(ctx, r, &broker.StreamPosition{Offset: start, Epoch: pos.Epoch}, want, maxBytes, true)
		if err != nil {
			return nil, historyError(h, channel, err)
		}
		slices.Reverse(pubs)
		return &protocol.HistoryResult{Publications: h.toWireList(pubs), Offset: pos.Offset, Epoch: pos.Epoch}, nil
	}
	var pubs []*broker.Publication
	var pos broker.StreamPosition
	var err error
	if reverse {
		pubs, pos, err = h.readSlot(ctx, r, broker.HistoryOptions{Since: from, Limit: want, Reverse: true})
		if err == nil && wireSize(pubs) > maxBytes {
			err = errReplyTooLarge
		}
	} else {
		pubs, pos, err = h.readForward(ctx, r, from, want, maxBytes, false)
	}
	if err != nil {
		return nil, historyError(h, channel, err)
	}
	return &protocol.HistoryResult{Publications: h.toWireList(pubs), Offset: pos.Offset, Epoch: pos.Epoch}, nil
}

// readForward reads up to want publications after from (from the oldest
// retained when nil) in pages, failing with errReplyTooLarge once they
// would take more than maxBytes. from is the client's own position unless
// synthesized, in which case a position the stream no longer retains
// means "from the oldest retained", as the broker answers it. A stream
// that loses continuity between two pages fails the read with a temporary
// error: the caller may ask again.
func (h *Hub) readForward(ctx context.Context, r streamRef, from *broker.StreamPosition, want, maxBytes int, synthesized bool) ([]*broker.Publication, broker.StreamPosition, error) {
	var out []*broker.Publication
	var pos broker.StreamPosition
	size := 0
	for first := true; len(out) < want; first = false {
		n := min(historyPage, want-len(out))
		page, p, err := h.readSlot(ctx, r, broker.HistoryOptions{Since: from, Limit: n})
		switch {
		case errors.Is(err, broker.ErrUnrecoverable) && first && synthesized:
		case errors.Is(err, broker.ErrUnrecoverable) && !first:
			return nil, p, errStreamChanged
		case err != nil:
			return nil, p, err
		}
		pos = p
		for _, pub := range page {
			if size += pubWireSize(pub); size > maxBytes {
				return nil, pos, errReplyTooLarge
			}
			out = append(out, pub)
		}
		if len(page) < n || len(page) == 0 || page[len(page)-1].Offset >= pos.Offset {
			break
		}
		from = &broker.StreamPosition{Offset: page[len(page)-1].Offset, Epoch: pos.Epoch}
	}
	return out, pos, nil
}

var errStreamChanged = protocol.NewError(protocol.CodeInternal, "the stream changed while it was read: try again")

// readSlot reads a stream in one of the node's catch-up slots (see
// catchup.go), waiting for one at most until ctx ends.
func (h *Hub) readSlot(ctx context.Context, r streamRef, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	select {
	case h.catchups <- struct{}{}:
	case <-ctx.Done():
		return nil, broker.StreamPosition{}, errCatchupsBusy
	}
	defer func() { <-h.catchups }()
	return h.readStream(ctx, r, opts)
}

// wireSize is pubWireSize summed.
func wireSize(pubs []*broker.Publication) int {
	n := 0
	for _, p := range pubs {
		n += pubWireSize(p)
	}
	return n
}

// historyError maps a failed history read to what the caller sees.
func historyError(h *Hub, channel string, err error) error {
	if errors.Is(err, broker.ErrUnrecoverable) {
		return protocol.ErrUnrecoverablePosition
	}
	return brokerError(h, "broker history", channel, err)
}
