package hub

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/ratelimit"
	"github.com/heraldhq/herald/protocol"
)

// Join and leave pushes cost a push to every subscriber of their channel,
// so a few connections toggling their subscription to a large channel can
// keep a node busy (20 of them on a channel of 1,000 took two thirds of a
// core). Each node therefore sends a channel's join and leave pushes at
// most JoinLeaveRate a second, with bursts of JoinLeaveBurst. Past the
// rate, events are held back and coalesced rather than dropped: a client's
// latest event replaces an earlier one still held, and the held events go
// out, oldest client first, as the bucket refills. A subscriber's view
// built from join and leave is then late, never wrong for good: once the
// toggling stops, the last event of every client arrives. (A leave for a
// client whose join was coalesced away is harmless to apply.) The limit is
// applied where a node fans the events out, so it holds whatever the
// number of nodes that publish them.

// maxHeldPresence bounds the events held for one channel; past it, an event
// for a client not already held is dropped. It takes that many distinct
// connections changing presence on one channel within a few seconds.
const maxHeldPresence = 4096

// presenceEvent is one join or leave.
type presenceEvent struct {
	typ  string
	info protocol.ClientInfo
}

// joinLeaveGate holds each channel's join and leave events past the rate.
// Buckets live in rates; a channel's held events in its shard, which also
// orders a channel's events: once some are held, every later one is held
// behind them until the last has gone out.
type joinLeaveGate struct {
	rates  *ratelimit.Table
	rate   rate.Limit
	burst  int
	every  time.Duration // between two tokens
	shards [numShards]struct {
		mu   sync.Mutex
		held map[string]*heldPresence
	}
}

// heldPresence is a channel's held events, at most one per client.
type heldPresence struct {
	events []presenceEvent
	// index maps a held client's id to its event's place in events,
	// counted from the channel's first held event (events[0] is at base).
	index map[string]int
	base  int
}

func newJoinLeaveGate(r float64, burst int) *joinLeaveGate {
	g := &joinLeaveGate{rate: rate.Inf}
	if r > 0 {
		g.rates = ratelimit.NewTable(maxChannelLimiters)
		g.rate, g.burst = rate.Limit(r), burst
		// A rate below one an hour is looked at hourly, which keeps the
		// timer's duration in range.
		g.every = time.Duration(min(float64(time.Second)/r, float64(time.Hour)))
	}
	for i := range g.shards {
		g.shards[i].held = make(map[string]*heldPresence)
	}
	return g
}

// presencePush sends a join or leave to the channel's subscribers on this
// node whose namespace has join/leave events on, now or, past the rate,
// later.
func (h *Hub) presencePush(typ, channel string, info protocol.ClientInfo) {
	ev := presenceEvent{typ, info}
	g := h.joinLeave
	if g.rate == rate.Inf {
		h.fanPresence(channel, ev)
		return
	}
	sh := &g.shards[shardOf(channel)]
	sh.mu.Lock()
	if hp := sh.held[channel]; hp != nil {
		hp.add(ev, h)
		sh.mu.Unlock()
		return
	}
	if g.rates.Allow(channel, g.rate, g.burst) {
		sh.mu.Unlock()
		h.fanPresence(channel, ev)
		return
	}
	hp := &heldPresence{index: make(map[string]int)}
	hp.add(ev, h)
	sh.held[channel] = hp
	sh.mu.Unlock()
	time.AfterFunc(g.every, func() { h.flushPresence(channel) })
}

// add holds ev, replacing the client's event already held.
func (hp *heldPresence) add(ev presenceEvent, h *Hub) {
	h.obs.RateLimited(LimitJoinLeave)
	if i, ok := hp.index[ev.info.Client]; ok {
		hp.events[i-hp.base] = ev
		return
	}
	if len(hp.events) >= maxHeldPresence {
		return
	}
	hp.index[ev.info.Client] = hp.base + len(hp.events)
	hp.events = append(hp.events, ev)
}

// flushPresence sends as many of a channel's held events as its bucket
// allows, oldest first, and comes back for the rest. It runs on a timer's
// goroutine, counted for Shutdown; once Shutdown has begun it drops what
// is held instead.
func (h *Hub) flushPresence(channel string) {
	g := h.joinLeave
	sh := &g.shards[shardOf(channel)]
	if !h.life.track() {
		sh.mu.Lock()
		delete(sh.held, channel)
		sh.mu.Unlock()
		return
	}
	defer h.life.untrack()
	sh.mu.Lock()
	hp := sh.held[channel]
	if hp == nil {
		sh.mu.Unlock()
		return
	}
	n := 0
	for n < len(hp.events) && g.rates.Allow(channel, g.rate, g.burst) {
		n++
	}
	out := make([]presenceEvent, n)
	copy(out, hp.events)
	for _, ev := range out {
		delete(hp.index, ev.info.Client)
	}
	clear(hp.events[:n])
	hp.events, hp.base = hp.events[n:], hp.base+n
	sh.mu.Unlock()

	// Sent without the lock; events arriving meanwhile are held behind
	// these, since the channel stays held until they are out.
	for _, ev := range out {
		h.fanPresence(channel, ev)
	}

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(hp.events) == 0 {
		delete(sh.held, channel)
		return
	}
	time.AfterFunc(g.every, func() { h.flushPresence(channel) })
}
