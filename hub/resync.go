package hub

import (
	"context"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/protocol"
)

// resyncSettle is how long a resync waits between reading the streams'
// positions and comparing subscribers with them, so that publications
// already on their way when the broker came back are delivered first and do
// not look lost.
const resyncSettle = time.Second

var disconnectContinuityLost = protocol.NewDisconnect(protocol.CloseReconnect, "stream continuity lost")

// HandleReconnect is called by the broker when its connection to the engine
// is back after an outage. Publications delivered in between never reached
// this node, so every subscriber that missed some is closed with 4000 and
// recovers them on reconnect (or learns they are gone through recovered:
// false). Presence entries are refreshed at once, in case the engine lost
// them. It returns at once: the work runs on its own goroutine.
func (h *Hub) HandleReconnect() {
	// Presence removals that failed during the outage go now.
	h.presenceRetries.kick()
	// Several shards may report one outage: one resync at a time covers
	// them, and a report during a resync starts another after it.
	if !h.resyncPending.CompareAndSwap(false, true) {
		return
	}
	if !h.goTracked(h.resync) {
		h.resyncPending.Store(false) // shutting down: nothing to check
	}
}

// resync closes the subscribers that missed publications during an outage.
// Shutdown cancels it: the subscribers are being closed anyway.
func (h *Hub) resync() {
	h.resyncMu.Lock()
	defer h.resyncMu.Unlock()
	// Cleared before reading the streams: a reconnect from here on may
	// have missed what this pass reads, so it starts another.
	h.resyncPending.Store(false)
	ctx, cancel := context.WithTimeout(h.life.ctx, 2*h.cfg.BrokerTimeout)
	defer cancel()
	h.log.Info("broker reconnected: checking subscribers against their streams")

	channels := make(map[string]broker.StreamPosition)
	for ch := range h.channels.counts(nil) {
		if ns, err := h.namespace(ch); err != nil || !ns.KeepsHistory() {
			continue // without history there is nothing to recover
		}
		_, pos, err := h.broker.History(ctx, ch, broker.HistoryOptions{Limit: -1, MetaTTL: h.cfg.HistoryMetaTTL})
		if h.life.ctx.Err() != nil {
			return // Shutdown
		}
		if err != nil {
			h.log.Warn("resync: read stream position", "channel", ch, "err", err)
			continue // the broker is away again; its next reconnect retries
		}
		channels[ch] = pos
	}
	inboxes := make(map[string]broker.StreamPosition)
	if h.cfg.Inbox.Keeps() {
		for _, c := range h.clients.all() {
			c.mu.Lock()
			user, hasInbox := c.user, c.inbox != nil
			c.mu.Unlock()
			if _, done := inboxes[user]; done || !hasInbox {
				continue
			}
			_, pos, err := h.broker.InboxHistory(ctx, user, broker.HistoryOptions{Limit: -1, MetaTTL: h.cfg.Inbox.MetaTTL})
			if h.life.ctx.Err() != nil {
				return
			}
			if err != nil {
				h.log.Warn("resync: read inbox position", "err", err)
				continue
			}
			inboxes[user] = pos
		}
	}

	if !h.sleep(resyncSettle) {
		return
	}
	lost := 0
	for ch, pos := range channels {
		for _, s := range h.channels.subscriptionsOf(ch) {
			if s.behind(pos) {
				s.client.Disconnect(disconnectContinuityLost)
				lost++
			}
		}
	}
	for user, pos := range inboxes {
		// Only clients with an inbox are in h.users.
		for _, c := range h.users.clientsOf(user) {
			if c.inbox.behind(pos) {
				c.Disconnect(disconnectContinuityLost)
				lost++
			}
		}
	}
	if lost > 0 {
		h.log.Info("resync: subscribers closed to recover what they missed", "count", lost)
	}
	h.refreshPresenceOnce()
}
