package hub

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/outage"
)

// maxPendingRemovals bounds the presence removals a node keeps retrying
// while its engine is away; each holds a channel name, a client id and a
// user id. Past it a removal is dropped: its entry expires after the
// presence TTL and the engine's sweep announces the leave then, late but
// once.
const maxPendingRemovals = 100_000

// Retries start this soon after a failure and back off to the maximum
// while the engine stays away; HandleReconnect retries at once.
const (
	presenceRetryMin = 100 * time.Millisecond
	presenceRetryMax = 5 * time.Second
)

// presenceKey names one client's entry in one channel.
type presenceKey struct{ channel, client string }

// pendingRemoval is a presence removal the engine has not taken yet.
type pendingRemoval struct {
	info     *broker.ClientInfo
	announce bool
	// seq tells a removal from a later one of the same key, so that a
	// retry that succeeds does not forget a removal queued meanwhile.
	seq uint64
}

// presenceRetries holds presence removals that failed (the engine was
// unavailable) until the engine takes them, so that a client that left
// meanwhile leaves presence soon after the engine is back, not when its
// entry expires (60 s by default) after being listed all that time. Keyed
// by channel and client, a removal queued twice is retried once. The
// broker announces the leave with the removal (see broker.Presence):
// whether the retry or the sweep of the expired entry gets there first,
// the leave is announced once.
type presenceRetries struct {
	mu      sync.Mutex
	pending map[presenceKey]pendingRemoval
	// queued mirrors len(pending), so that the subscribe path's
	// forgetRemoval takes no lock when nothing is queued.
	queued atomic.Int64
	max    int // maxPendingRemovals; tests lower it
	seq    uint64
	// full is set when a removal was dropped, so that is logged once
	// until the queue empties.
	full bool
	// wake starts a retry round: when the queue stops being empty, and
	// on HandleReconnect.
	wake chan struct{}
	log  *outage.Log
}

func (q *presenceRetries) init(log *slog.Logger) {
	q.pending = make(map[presenceKey]pendingRemoval)
	q.max = maxPendingRemovals
	q.wake = make(chan struct{}, 1)
	q.log = outage.New(log, "presence removal")
}

// leavePresence removes s's presence entry, announcing the leave when its
// namespace wants them. It waits for a refresh of the entry in progress,
// and none starts after it: a refresh could otherwise add the entry back
// after its removal, and it would stay until its TTL ran out, then be
// announced a second time.
func (h *Hub) leavePresence(ctx context.Context, s *subscription) {
	s.presenceMu.Lock()
	s.left = true
	s.presenceMu.Unlock()
	h.removePresence(ctx, s.channel, s.client.clientInfo(false), s.ns.JoinLeave)
}

// refreshEntry re-adds s's presence entry unless s has left.
func (h *Hub) refreshEntry(ctx context.Context, s *subscription) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.BrokerTimeout)
	defer cancel()
	s.presenceMu.Lock()
	defer s.presenceMu.Unlock()
	if s.left {
		return nil
	}
	return h.broker.AddPresence(ctx, s.channel, s.client.clientInfo(true), h.cfg.PresenceTTL)
}

// removePresence removes a client's presence entry, announcing its leave
// with announce; if the engine is away, the removal is retried until it
// comes back.
func (h *Hub) removePresence(ctx context.Context, channel string, info *broker.ClientInfo, announce bool) {
	err := h.broker.RemovePresence(ctx, channel, info, announce)
	q := &h.presenceRetries
	if err == nil {
		q.log.OK()
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	key := presenceKey{channel, info.Client}
	if _, had := q.pending[key]; !had && len(q.pending) >= q.max {
		if !q.full {
			q.full = true
			h.log.Warn("presence removals: retry queue full; entries past it expire after presence_ttl",
				"max", q.max)
		}
		return
	}
	q.log.Fail(err, "channel", channel)
	q.seq++
	q.pending[key] = pendingRemoval{info: info, announce: announce, seq: q.seq}
	q.queued.Store(int64(len(q.pending)))
	if len(q.pending) == 1 {
		q.kick()
	}
}

// forgetRemoval drops a queued removal of the client's entry in channel:
// the client subscribed again, and the entry is its new one.
func (h *Hub) forgetRemoval(channel, client string) {
	q := &h.presenceRetries
	if q.queued.Load() == 0 {
		return
	}
	q.mu.Lock()
	delete(q.pending, presenceKey{channel, client})
	q.queued.Store(int64(len(q.pending)))
	q.mu.Unlock()
}

// kick starts a retry round now.
func (q *presenceRetries) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// retryPresence runs until Shutdown, retrying queued removals with backoff
// while any are queued.
func (h *Hub) retryPresence() {
	q := &h.presenceRetries
	t := time.NewTimer(0)
	<-t.C
	wait := presenceRetryMin
	for {
		select {
		case <-h.life.done():
			t.Stop()
			return
		case <-q.wake:
			t.Stop()
			wait = presenceRetryMin
		case <-t.C:
		}
		if h.retryRemovals() {
			wait = presenceRetryMin
			continue
		}
		t.Reset(wait)
		wait = min(2*wait, presenceRetryMax)
	}
}

// retryRemovals retries every queued removal, stopping at the first
// failure (the engine is still away). It reports whether the queue is
// empty.
func (h *Hub) retryRemovals() bool {
	q := &h.presenceRetries
	q.mu.Lock()
	batch := make(map[presenceKey]pendingRemoval, len(q.pending))
	for k, r := range q.pending {
		batch[k] = r
	}
	q.mu.Unlock()
	for k, r := range batch {
		select {
		case <-h.life.done():
			return false
		default:
		}
		ctx, cancel := h.brokerContext()
		err := h.broker.RemovePresence(ctx, k.channel, r.info, r.announce)
		cancel()
		if err != nil {
			q.log.Fail(err, "pending", h.pendingRemovals())
			return false
		}
		q.mu.Lock()
		if q.pending[k].seq == r.seq {
			delete(q.pending, k)
			q.queued.Store(int64(len(q.pending)))
		}
		q.mu.Unlock()
	}
	if len(batch) > 0 {
		q.log.OK() // the engine took them
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) > 0 {
		return false
	}
	q.full = false
	return true
}

// PendingPresenceRemovals counts the presence removals waiting for the
// engine to come back (see presenceRetries); metrics report it.
func (h *Hub) PendingPresenceRemovals() int { return h.pendingRemovals() }

// pendingRemovals counts the queued presence removals.
func (h *Hub) pendingRemovals() int { return int(h.presenceRetries.queued.Load()) }
