package hub

import (
	"sync"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// The heartbeat wheel. A client has one heartbeat deadline at a time: the
// connect timeout until connect, then its next ping, then the answer to
// that ping (PROTOCOL.md §15). A runtime timer per client held about 130
// bytes of every idle connection (the timer and its callback); the hub
// keeps the deadlines in a wheel instead: a ring of slots a tick wide,
// each a list threaded through its clients (no allocation per client),
// and one runtime timer for the hub, set for the earliest slot that holds
// anyone. Nothing runs while no deadline is due.
//
// Rounding to the tick: a timeout fires at the end of its tick, up to a
// tick late and never early; a ping at the start of its tick, never late,
// since a client's watchdog counts from it.
//
// Spreading: pings due in the same instant (a crowd that connected, or
// answered a ping, together) would all go out in that instant every
// interval, and their pongs would all come back in one, a burst of work
// that delays every other message. A ping whose slot already holds four
// times the average share of the interval goes to the latest earlier slot
// with room, up to a quarter of the interval early (beatSpread): room for
// every client of the hub, so a crowd of them all spreads in one round.
// Once spread, a crowd stays spread: each client's next ping counts from
// its own pong.

// beatTicksPerDelay sets the tick: the shortest of the connect timeout,
// the ping interval and the pong timeout is this many ticks (100 ms at
// the defaults, after beatMaxTick).
const beatTicksPerDelay = 20

// beatMinTick and beatMaxTick bound the tick: finer than a millisecond
// buys nothing over the runtime timer's own precision; coarser than
// 100 ms would make a timeout late by more than anyone cares to wait.
const (
	beatMinTick = time.Millisecond
	beatMaxTick = 100 * time.Millisecond
)

// beatMaxSlots bounds the ring: a deadline further ahead than it reaches
// waits a turn (or more) of the ring, looked at once each turn.
const beatMaxSlots = 1 << 14

// A ping whose slot is crowded may come up to 1/beatSpread of the ping
// interval early; a slot is crowded at beatCrowd times the average share
// of pings.
const (
	beatSpread = 4
	beatCrowd  = 4
)

// beatMinCrowd is the fewest pings a slot takes before it counts as
// crowded: below it spreading is not worth moving a ping.
const beatMinCrowd = 64

// A Client's beatAt: the tick of the slot it waits in (from 1), or one of
// these.
const (
	beatIdle   int64 = 0  // not in the wheel
	beatFiring int64 = -1 // taken out by the wheel, its handler not run yet
)

// beatWheel holds every client's heartbeat deadline (see above). mu
// guards the wheel and the clients' beat fields; it is taken after a
// client's mu, and nothing else is taken under it.
type beatWheel struct {
	mu    sync.Mutex
	tick  time.Duration
	slots []beatSlot
	// elapsed is the time since tick 0 (monotonic); a test's clock may
	// stand in for it.
	elapsed func() time.Duration
	// cursor is the first tick not handled yet; armed is the tick the
	// timer is set for (0: not set).
	cursor, armed int64
	timer         *time.Timer
	fire          func()
	n             int   // clients in the wheel
	perInterval   int64 // ticks in a ping interval
	spread        int64 // ticks a ping may come early
	stopped       bool
}

// beatSlot is one tick's clients, a doubly linked list through
// Client.beatNext and beatPrev, and how many of them wait for a ping.
type beatSlot struct {
	head  *Client
	pings int
}

// init sizes the wheel for cfg's delays; fire runs, on a goroutine of its
// own, whenever a slot comes due.
func (w *beatWheel) init(cfg *Config, fire func()) {
	shortest := min(cfg.ConnectTimeout, cfg.PingInterval, cfg.PongTimeout)
	longest := max(cfg.ConnectTimeout, cfg.PingInterval, cfg.PongTimeout)
	w.tick = min(max(shortest/beatTicksPerDelay, beatMinTick), beatMaxTick)
	// Room for the longest delay from any tick, and a few ticks of lag in
	// handling, unless that is more than beatMaxSlots (a long delay with a
	// short one beside it): a deadline further ahead still works (it waits
	// a turn of the ring), but costs a look at every turn.
	w.slots = make([]beatSlot, min(int(longest/w.tick)+8, beatMaxSlots))
	w.perInterval = max(int64(cfg.PingInterval/w.tick), 1)
	w.spread = int64(cfg.PingInterval / beatSpread / w.tick)
	start := time.Now().Add(-w.tick) // ticks count from 1: 0 is beatIdle
	w.elapsed = func() time.Duration { return time.Since(start) }
	w.cursor = 1
	w.fire = fire
}

// set puts c's deadline d from now, in place of any it had: a ping's when
// ping, a timeout's otherwise.
func (w *beatWheel) set(c *Client, d time.Duration, ping bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unlinkLocked(c)
	if w.stopped {
		return
	}
	at := w.elapsed() + d
	var t int64
	if ping {
		t = w.roomLocked(max(int64(at/w.tick), w.cursor))
	} else {
		t = int64((at + w.tick - 1) / w.tick)
	}
	t = max(t, w.cursor)
	s := &w.slots[t%int64(len(w.slots))]
	c.beatAt, c.beatPing = t, ping
	c.beatPrev, c.beatNext = nil, s.head
	if s.head != nil {
		s.head.beatPrev = c
	}
	s.head = c
	if ping {
		s.pings++
	}
	w.n++
	if w.armed == 0 || t < w.armed {
		w.armLocked(t)
	}
}

// roomLocked returns the tick for a ping due at tick due: due itself,
// unless its slot is crowded, then the latest earlier one within the
// spread that is not.
func (w *beatWheel) roomLocked(due int64) int64 {
	crowd := max(beatMinCrowd, beatCrowd*int64(w.n)/w.perInterval+1)
	n := int64(len(w.slots))
	if int64(w.slots[due%n].pings) < crowd {
		return due
	}
	for t := due - 1; t >= w.cursor && t >= due-w.spread; t-- {
		if int64(w.slots[t%n].pings) < crowd {
			return t
		}
	}
	return due
}

// remove takes c out of the wheel.
func (w *beatWheel) remove(c *Client) {
	w.mu.Lock()
	w.unlinkLocked(c)
	w.mu.Unlock()
}

// unlinkLocked takes c out of its slot, if it is in one, and out of a
// firing not handled yet.
func (w *beatWheel) unlinkLocked(c *Client) {
	if c.beatAt == beatIdle {
		return
	}
	if c.beatAt == beatFiring {
		c.beatAt = beatIdle
		return
	}
	s := &w.slots[c.beatAt%int64(len(w.slots))]
	if c.beatPrev != nil {
		c.beatPrev.beatNext = c.beatNext
	} else {
		s.head = c.beatNext
	}
	if c.beatNext != nil {
		c.beatNext.beatPrev = c.beatPrev
	}
	if c.beatPing {
		s.pings--
	}
	c.beatNext, c.beatPrev, c.beatAt = nil, nil, beatIdle
	w.n--
}

// claim reports whether c's deadline, taken out by due, still stands: not
// set again or removed since. The handler acts only then.
func (w *beatWheel) claim(c *Client) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.beatAt != beatFiring {
		return false
	}
	c.beatAt = beatIdle
	return true
}

// due takes out the clients whose deadline has come, marked beatFiring,
// and sets the timer for the next slot that holds anyone.
func (w *beatWheel) due() []*Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = 0
	now := int64(w.elapsed() / w.tick)
	n := int64(len(w.slots))
	var out []*Client
	for t := w.cursor; t <= now && t < w.cursor+n; t++ {
		s := &w.slots[t%n]
		for c := s.head; c != nil; {
			next := c.beatNext
			if c.beatAt <= now { // not one a turn of the ring ahead
				w.unlinkLocked(c)
				c.beatAt = beatFiring
				out = append(out, c)
			}
			c = next
		}
	}
	w.cursor = max(w.cursor, now+1)
	if w.n > 0 && !w.stopped {
		for t := w.cursor; t < w.cursor+n; t++ {
			if w.slots[t%n].head != nil {
				w.armLocked(t)
				break
			}
		}
	}
	return out
}

// armLocked sets the timer for tick t.
func (w *beatWheel) armLocked(t int64) {
	w.armed = t
	d := max(time.Duration(t)*w.tick-w.elapsed(), 0)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
		return
	}
	w.timer.Reset(d)
}

// stop ends the wheel: its timer is stopped and nothing is set again.
func (w *beatWheel) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.armed = 0
	if w.timer != nil {
		w.timer.Stop()
	}
}

// size returns how many clients wait in the wheel.
func (w *beatWheel) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// fireBeats handles the clients whose heartbeat deadline has come: the
// wheel's timer runs it.
func (h *Hub) fireBeats() {
	if !h.life.track() {
		return
	}
	defer h.life.untrack()
	for _, c := range h.beats.due() {
		c.onBeat()
	}
}

// onBeat runs at the client's heartbeat deadline: the connect timeout, a
// ping due, or a ping unanswered.
func (c *Client) onBeat() {
	c.mu.Lock()
	if !c.hub.beats.claim(c) { // a pong, or the end, came first
		c.mu.Unlock()
		return
	}
	switch c.state {
	case stateClosed:
		c.mu.Unlock()
		return
	case stateConnecting:
		c.mu.Unlock()
		c.Disconnect(protocol.DisconnectConnectTimeout)
		return
	}
	if c.awaitPong {
		c.mu.Unlock()
		c.Disconnect(protocol.DisconnectHeartbeatTimeout)
		return
	}
	if c.noPong {
		// A stream client's ping is for its own watchdog: the server finds
		// a dead one by its writes failing or timing out.
		c.hub.beats.set(c, c.hub.cfg.PingInterval, true)
	} else {
		c.awaitPong = true
		c.hub.beats.set(c, c.hub.cfg.PongTimeout, false)
	}
	c.mu.Unlock()
	// A ping comes once an interval whatever the connection does: a
	// connection quiet since the last one gives back its cork timer and
	// its queue's arrays.
	c.out.ReleaseIdle()
	c.enqueue(c.enc.PingPush())
	c.hub.obs.Queued(c.enc, protocol.PushPing, 1)
}

// startHeartbeat switches the client's deadline from the connect timeout
// to its first ping. Called with c.mu held.
func (c *Client) startHeartbeat() {
	c.hub.beats.set(c, c.hub.cfg.PingInterval, true)
}

// onPong is the client's answer to a ping: the next ping is due one interval
// from now.
func (c *Client) onPong() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateConnected || !c.awaitPong {
		return
	}
	c.awaitPong = false
	c.hub.beats.set(c, c.hub.cfg.PingInterval, true)
}

// scheduleExpiry arms the token expiry timer: refresh_needed some time before
// exp, then a 4003 close at exp unless refresh extended it. Called with c.mu
// held.
func (c *Client) scheduleExpiry() {
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.expiresAt == 0 {
		return
	}
	// Notice comes RefreshNotice before exp, or halfway for a token with
	// less life than that: an earlier notice would be answered by a token
	// just as short, and the two sides would refresh in a loop.
	until := time.Until(time.Unix(c.expiresAt, 0))
	c.expiry = time.AfterFunc(until-min(c.hub.cfg.RefreshNotice, until/2), c.onExpiryTimer)
}

func (c *Client) onExpiryTimer() {
	c.mu.Lock()
	if c.state != stateConnected || c.expiresAt == 0 {
		c.mu.Unlock()
		return
	}
	left := time.Until(time.Unix(c.expiresAt, 0))
	if left <= 0 {
		c.mu.Unlock()
		c.Disconnect(protocol.DisconnectTokenExpired)
		return
	}
	c.expiry = time.AfterFunc(left, c.onExpiryTimer)
	exp := c.expiresAt
	c.mu.Unlock()
	c.enqueue(c.enc.AppendRefreshNeededPush(nil, exp))
	c.hub.obs.Queued(c.enc, protocol.PushRefreshNeeded, 1)
}
