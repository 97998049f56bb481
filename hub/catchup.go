package hub

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

// Recovery in pages.
//
// A client that subscribes with since (or connects with inbox_since) may
// have missed more than one reply should carry: tens of thousands of
// publications, megabytes. So every read of a stream is a page of at most
// historyPage publications, and a reply carries at most replyBudget bytes of
// them. When more follow, the reply says so (more: true) and reports as its
// offset the last publication it carries; the subscription then catches up:
// a goroutine reads the next pages and queues them as ordinary pushes
// (message, or direct for the inbox), each page once the client's queue has
// room for it, while live pushes stay held. When a page reaches the top of
// the stream the held pushes are merged behind it, repeats dropped, and the
// subscription goes live: no gap, no duplicate, and a client that reads
// nothing special into more still sees one contiguous run of offsets.
//
// If the stream loses what the client still needs while it catches up
// (trimmed, expired, removed), the connection is closed with 4000: the
// client reconnects, resubscribes from its last offset and learns of the
// loss from recovered: false. Page reads are bounded node-wide by
// Config.MaxConcurrentCatchups, so reconnecting crowds cannot monopolise
// the engine.

// historyPage is the most publications one read of a stream returns: every
// read costs the engine a bounded amount of work, however long the stream.
const historyPage = 256

// replyBudget is how many bytes of publications one reply (or one catch-up
// page) carries at most: a quarter of the write queue's byte bound, so that
// a page fits beside what the subscription holds back (at most half the
// queue) and some live traffic. pageItems bounds a catch-up page's pushes
// the same way.
func (h *Hub) replyBudget() int { return max(h.cfg.WriteQueueBytes/4, 1) }

func (h *Hub) pageItems() int { return max(h.cfg.WriteQueueMessages/4, 1) }

// streamRef names a stream: a channel's, or (channel "") a user's inbox.
type streamRef struct {
	channel string
	user    string
}

// streamOf returns the stream a subscription follows.
func (s *subscription) streamOf() streamRef {
	if s.channel != "" {
		return streamRef{channel: s.channel}
	}
	return streamRef{user: s.client.User()}
}

// readStream reads a page of a stream.
func (h *Hub) readStream(ctx context.Context, r streamRef, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if r.channel == "" {
		opts.MetaTTL = h.cfg.Inbox.MetaTTL
		return h.broker.InboxHistory(ctx, r.user, opts)
	}
	opts.MetaTTL = h.cfg.HistoryMetaTTL
	return h.broker.History(ctx, r.channel, opts)
}

// errCatchupsBusy is what a recovery gets when every catch-up slot stayed
// taken for the broker timeout: temporary, the client tries again.
var errCatchupsBusy = protocol.NewError(protocol.CodeInternal, "too many recoveries in progress: try again")

// readPage reads up to historyPage publications after since, in one of
// the node's catch-up slots.
func (h *Hub) readPage(ctx context.Context, r streamRef, since broker.StreamPosition) ([]*broker.Publication, broker.StreamPosition, error) {
	return h.readSlot(ctx, r, broker.HistoryOptions{Since: &since, Limit: historyPage})
}

// pubWireSize estimates the bytes a publication takes in a reply or a push
// from below (data that is not JSON takes a third more as base64 in JSON),
// so that no read stops short of what fits; replies are measured exactly
// once encoded.
func pubWireSize(p *broker.Publication) int {
	n := len(p.Data) + 32
	if p.Info != nil {
		n += len(p.Info.User) + len(p.Info.Client)
	}
	return n
}

// recoverFirst reads what a client missed after since for its subscribe
// reply: whole pages while they fit in *budget (which it decreases), at
// least one publication when the client is behind and the budget is not
// yet spent. more reports that the stream holds publications after the
// last one returned; the reply's offset is then that last one's. It
// returns broker.ErrUnrecoverable when since cannot be continued.
func (h *Hub) recoverFirst(ctx context.Context, r streamRef, since broker.StreamPosition, budget *int) (pubs []*broker.Publication, pos broker.StreamPosition, more bool, err error) {
	from := since
	for {
		page, p, err := h.readPage(ctx, r, from)
		if err != nil {
			return nil, p, false, err
		}
		pos = p
		for _, pub := range page {
			size := pubWireSize(pub)
			if size > *budget {
				return pubs, pos, true, nil
			}
			*budget -= size
			pubs = append(pubs, pub)
			from.Offset = pub.Offset
		}
		if from.Offset >= pos.Offset {
			return pubs, pos, false, nil
		}
		if len(page) == 0 {
			// Behind the top, yet nothing to read: the stream lost what
			// follows since, between the checks of one read.
			return nil, pos, false, broker.ErrUnrecoverable
		}
	}
}

// startCatchUp runs s's catch-up on a goroutine the hub waits for at
// shutdown. It is a no-op once the hub stops: the client is being closed.
func (h *Hub) startCatchUp(s *subscription) {
	h.goTracked(s.catchUp)
}

// catchUpRetries is how many times a catch-up page read that failed for
// a reason other than the stream itself (the engine briefly away) is
// tried again before the connection is closed to start over.
const catchUpRetries = 3

// catchUp queues the pages of history that follow the subscription's
// position until it reaches the stream's top, then merges what was held
// and makes the subscription live. It ends early, doing nothing more, when
// the subscription or its client goes away.
func (s *subscription) catchUp() {
	c, h := s.client, s.client.hub
	r := s.streamOf()
	budget, items := h.replyBudget(), h.pageItems()
	failures := 0
	for {
		// Room for a page and for what is held, which joins the last page.
		s.mu.Lock()
		heldN, heldBytes := len(s.held), s.heldBytes
		s.mu.Unlock()
		if !c.out.WaitRoom(items+heldN, budget+heldBytes) {
			return // the client is gone or going
		}
		// A node holding much for its connections already lets catch-ups
		// wait, and cuts the largest holders meanwhile.
		if !h.budget.waitRoom(h.sleep, c.out.Ending) {
			return
		}
		s.mu.Lock()
		if s.gone {
			s.mu.Unlock()
			return
		}
		since := broker.StreamPosition{Offset: s.offset, Epoch: s.epoch}
		// Pushes dropped from here on may be newer than this read: it
		// must then not be the last (see subscription).
		s.heldLost = false
		s.mu.Unlock()

		ctx, cancel := h.brokerContext()
		page, pos, err := h.readPage(ctx, r, since)
		cancel()
		switch {
		case errors.Is(err, broker.ErrUnrecoverable), err == nil && len(page) == 0 && pos.Offset > since.Offset:
			c.Disconnect(disconnectContinuityLost)
			return
		case errors.Is(err, errCatchupsBusy):
			continue // waiting for a slot is not a failure: try again
		case err != nil:
			failures++
			if failures > catchUpRetries {
				h.log.Warn("catch-up: read stream", "channel", s.channel, "err", err)
				c.Disconnect(protocol.DisconnectInternal)
				return
			}
			if !h.sleep(time.Duration(failures) * 200 * time.Millisecond) {
				return
			}
			continue
		}
		failures = 0

		unit := make([]outbound.Entry, 0, len(page))
		size, last := 0, since.Offset
		for _, p := range page {
			msg := s.encodePush(p)
			if len(unit) > 0 && (size+len(msg) > budget || len(unit) == items) {
				break
			}
			unit = append(unit, outbound.Entry{Msg: msg, Private: true})
			size += len(msg)
			last = p.Offset
		}
		c.hub.obs.Queued(c.enc, s.pushKind(), len(unit))

		s.mu.Lock()
		if s.gone {
			s.mu.Unlock()
			return
		}
		s.offset = last
		gap := false
		if last >= pos.Offset && !s.heldLost {
			unit, gap = s.releaseHeld(unit)
		}
		res := c.out.PushAll(unit)
		live := s.live
		s.mu.Unlock()
		switch {
		case res == outbound.Overflowed:
			c.slowConsumer()
			return
		case res == outbound.Dropped:
			return
		case gap:
			c.Disconnect(disconnectContinuityLost)
			return
		case live:
			return
		}
	}
}

// encodePush encodes a publication of the subscription's stream as the
// push a live delivery would have sent.
func (s *subscription) encodePush(p *broker.Publication) []byte {
	c := s.client
	wire := c.hub.toWire(p)
	if s.channel == "" {
		var from protocol.ClientInfo
		if p.Info != nil {
			from = protocol.ClientInfo{User: p.Info.User, Client: p.Info.Client}
		}
		return c.enc.AppendDirectPush(nil, from, &wire)
	}
	return c.enc.AppendMessagePush(make([]byte, 0, 96+len(s.channel)+len(p.Data)), s.channel, &wire)
}

// pushKind names the subscription's pushes for the metrics.
func (s *subscription) pushKind() string {
	if s.channel == "" {
		return protocol.PushDirect
	}
	return protocol.PushMessage
}
