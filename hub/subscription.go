package hub

import (
	"sync"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

// subscription is one client's interest in one channel, or (with channel "")
// in its user's inbox. It holds live pushes back until the subscribe reply is
// queued, so that a message never precedes its subscribe reply and recovery
// merges history with the live stream without gaps or duplicates.
//
// A subscription goes through three phases: held (registered, its reply
// not queued yet: pushes are held back), catching up (the reply is queued
// but the client is behind the stream: a catch-up reads the rest from
// history in pages while pushes are still held, see catchup.go) and live
// (pushes are queued as they come). The held pushes are bounded; past the
// bound they are dropped and heldLost set, and since every one of them is
// in the stream's history, a catch-up reads them from there instead.
//
// deliver is called by the broker's delivery path, one call at a time per
// channel; activate by whoever queues the subscribe reply, the catch-up by
// its own goroutine. mu orders them.
type subscription struct {
	client  *Client
	channel string
	ns      *Namespace // nil for the inbox
	// serverSide marks subscriptions made by token claims or the server API.
	serverSide bool

	// presenceMu orders the presence refresher's re-add of the entry
	// before its removal, which sets left (see leavePresence). It is held
	// across a broker call; the broker's callbacks never take it.
	presenceMu sync.Mutex
	left       bool

	mu       sync.Mutex
	live     bool // the client has everything up to offset: deliver queues directly
	catching bool // a catch-up goroutine is reading history toward the live stream
	gone     bool // unsubscribed or the client closed: nothing more is queued
	// held are the pushes that arrived before the subscription went live,
	// oldest first; heldBytes their size. heldLost records that some were
	// dropped for exceeding the bound since the last catch-up read began.
	held      []heldPush
	heldBytes int
	heldLost  bool
	epoch     string // the stream's epoch as this client knows it
	offset    uint64 // the last offset queued to the client
}

type heldPush struct {
	offset uint64
	epoch  string
	msg    *outbound.Shared
	stamp  int64
}

// deliver queues an encoded push for the client. offset is 0 for pushes that
// are not stream publications (join, leave, or a channel without history);
// pubTime is a publication's Time, 0 for other pushes.
func (s *subscription) deliver(offset uint64, epoch string, msg *outbound.Shared, pubTime int64) {
	s.deliverTo(offset, epoch, msg, pubTime, nil)
}

// deliverTo is deliver within a fan-out: when the client needs a writer, f
// collects it instead of a writer goroutine starting (nil: start one).
//
// The position moves only when the push is queued: a push the queue refuses
// fails the queue (nothing after it is ever written) and leaves the
// position at the last offset the client was actually sent.
func (s *subscription) deliverTo(offset uint64, epoch string, msg *outbound.Shared, pubTime int64, f *outbound.Fanout) {
	c := s.client
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return
	}
	if !s.live {
		s.hold(heldPush{offset, epoch, msg, pubTime})
		s.mu.Unlock()
		return
	}
	ok, gap := s.next(offset, epoch)
	if gap {
		s.mu.Unlock()
		c.Disconnect(disconnectContinuityLost)
		return
	}
	if !ok {
		s.mu.Unlock()
		return
	}
	r, claimed := c.out.PushLive(msg, pubTime)
	switch r {
	case outbound.Queued:
		s.moveTo(offset, epoch)
	case outbound.Dropped:
		// The connection is ending: nothing more reaches it, and the
		// offsets it misses from now on are no gap to report.
		s.gone = true
	}
	s.mu.Unlock()
	switch {
	case r == outbound.Overflowed:
		c.slowConsumer()
	case claimed && f != nil:
		f.Add(&c.out)
	case claimed:
		c.out.StartWriter()
	}
}

// hold keeps a push back until the subscription goes live, within half
// the client's write queue's bounds, so that what is held and a page of
// recovery fit the queue together. Past them every held push is dropped: a
// catch-up reads them from history (see activate). Called with s.mu held.
func (s *subscription) hold(p heldPush) {
	cfg := &s.client.hub.cfg
	if len(s.held) >= max(cfg.WriteQueueMessages/2, 1) || s.heldBytes+len(p.msg.Bytes) > cfg.WriteQueueBytes/2 {
		clear(s.held)
		s.held, s.heldBytes, s.heldLost = nil, 0, true
	}
	s.held = append(s.held, p)
	s.heldBytes += len(p.msg.Bytes)
}

// next decides whether a publication at offset continues what the client
// has, without moving the position. A repeat (offset already queued, as
// happens when history and the live stream overlap) is dropped; a jump
// forward in the same epoch, or a new epoch, is a gap the client cannot
// repair on this connection. Called with s.mu held.
func (s *subscription) next(offset uint64, epoch string) (deliver, gap bool) {
	switch {
	case offset == 0:
		return true, false // not a stream publication
	case s.epoch == "":
		return true, false // the first publication of a stream not known before
	case epoch != s.epoch:
		// The stream restarted (history removed, broker data lost). A
		// message push carries no epoch, so the client could not tell the
		// new offsets from repeats: it must resubscribe and learn of the
		// loss through recovered: false.
		return false, true
	case offset <= s.offset:
		return false, false
	case offset != s.offset+1:
		// Also from offset 0: a client that subscribed to an empty stream
		// must see its first publication, not the fifth.
		return false, true
	}
	return true, false
}

// moveTo records that the publication at offset was queued. Called with
// s.mu held.
func (s *subscription) moveTo(offset uint64, epoch string) {
	if offset == 0 {
		return
	}
	s.epoch, s.offset = epoch, offset
}

// activate is called, with s.mu held, as the subscribe reply carrying pos
// is queued in unit: it appends what was held back, minus what pos already
// covers, and makes the subscription live. When the reply left publications
// out (more) or held pushes were dropped, the subscription starts catching
// up from pos instead (catchUp reports it; the caller starts the catch-up
// once unit is queued), unless the stream keeps no history to catch up
// from: then lost reports that the client cannot be given what it missed.
// gap reports that a held push does not continue pos.
func (s *subscription) activate(pos protocol.StreamPosition, more bool, unit []outbound.Entry) (out []outbound.Entry, catchUp, lost, gap bool) {
	s.epoch, s.offset = pos.Epoch, pos.Offset
	if more || s.heldLost {
		if pos.Epoch == "" {
			return unit, false, true, false
		}
		s.catching = true
		return unit, true, false, false
	}
	out, gap = s.releaseHeld(unit)
	return out, false, false, gap
}

// releaseHeld appends the held pushes that continue the client's position
// to unit, forgets them and makes the subscription live. It stops at a gap.
// Called with s.mu held.
func (s *subscription) releaseHeld(unit []outbound.Entry) (out []outbound.Entry, gap bool) {
	for _, h := range s.held {
		ok, g := s.next(h.offset, h.epoch)
		if g {
			gap = true
			break
		}
		if ok {
			unit = append(unit, outbound.Entry{Msg: h.msg.Bytes, Stamp: h.stamp, Shared: h.msg})
			s.moveTo(h.offset, h.epoch)
		}
	}
	clear(s.held)
	s.held, s.heldBytes, s.heldLost = nil, 0, false
	s.live, s.catching = true, false
	return unit, gap
}

// remove marks the subscription gone: deliveries and its catch-up stop,
// and what it held is let go.
func (s *subscription) remove() {
	s.mu.Lock()
	s.gone = true
	clear(s.held)
	s.held, s.heldBytes = nil, 0
	s.mu.Unlock()
}

// behind reports whether the client, live on this subscription, has not
// been queued everything up to pos, or knows another epoch.
func (s *subscription) behind(pos broker.StreamPosition) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live && (s.epoch != pos.Epoch || s.offset < pos.Offset)
}
