package hub

import (
	"sync"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/protocol"
)

// subscription is one client's interest in one channel, or (with channel "")
// in its user's inbox. It holds live pushes back until the subscribe reply is
// queued, so that a message never precedes its subscribe reply and recovery
// merges history with the live stream without gaps or duplicates.
//
// deliver is called by the broker's delivery path, one call at a time per
// channel; release by whoever queues the subscribe reply. mu orders them.
type subscription struct {
	client  *Client
	channel string
	ns      *Namespace // nil for the inbox
	// serverSide marks subscriptions made by token claims or the server API.
	serverSide bool

	mu     sync.Mutex
	live   bool       // the subscribe reply is queued; deliver enqueues directly
	held   []heldPush // pushes that arrived before the reply, oldest first
	epoch  string     // the stream's epoch as this client knows it
	offset uint64     // the last offset queued to the client
}

type heldPush struct {
	offset uint64
	epoch  string
	msg    []byte
}

// deliver queues an encoded push for the client. offset is 0 for pushes that
// are not stream publications (join, leave, or a channel without history);
// pubTime is a publication's Time, 0 for other pushes.
func (s *subscription) deliver(offset uint64, epoch string, msg []byte, pubTime int64) {
	s.deliverTo(offset, epoch, msg, pubTime, nil)
}

// deliverTo is deliver within a fan-out: when the client needs a writer, f
// collects it instead of a writer goroutine starting (nil: start one).
func (s *subscription) deliverTo(offset uint64, epoch string, msg []byte, pubTime int64, f *fanout) {
	s.mu.Lock()
	if !s.live {
		s.held = append(s.held, heldPush{offset, epoch, msg})
		s.mu.Unlock()
		return
	}
	ok, gap := s.advance(offset, epoch)
	s.mu.Unlock()
	if gap {
		s.client.disconnectAsync(protocol.NewDisconnect(protocol.CloseReconnect, "stream continuity lost"))
		return
	}
	if ok {
		s.client.enqueueLive(msg, pubTime, f)
	}
}

// advance decides whether a publication at offset continues what the client
// has, updating the position. A repeat (offset already queued, as happens when
// history and the live stream overlap) is dropped; a jump forward in the same
// epoch is a gap the client cannot repair on this connection.
func (s *subscription) advance(offset uint64, epoch string) (deliver, gap bool) {
	if offset == 0 {
		return true, false
	}
	if epoch != s.epoch {
		if s.epoch == "" {
			s.epoch, s.offset = epoch, offset
			return true, false
		}
		// The stream restarted (history removed, broker data lost). A
		// message push carries no epoch, so the client could not tell the
		// new offsets from repeats: it must resubscribe and learn of the
		// loss through recovered: false.
		return false, true
	}
	if offset <= s.offset {
		return false, false
	}
	if s.offset != 0 && offset != s.offset+1 {
		return false, true
	}
	s.offset = offset
	return true, false
}

// release lets the subscription's pushes through from position pos on: it
// appends to unit what was held back, minus what pos already covers, and
// marks the subscription live. Called with s.mu held, by
// Client.queueActivating, which queues unit.
func (s *subscription) release(pos protocol.StreamPosition, unit [][]byte) [][]byte {
	s.epoch, s.offset = pos.Epoch, pos.Offset
	for i, h := range s.held {
		if ok, _ := s.advance(h.offset, h.epoch); ok {
			unit = append(unit, h.msg)
		}
		s.held[i] = heldPush{}
	}
	s.held = nil
	s.live = true
	return unit
}

// behind reports whether the client, live on this subscription, has not
// been queued everything up to pos, or knows another epoch.
func (s *subscription) behind(pos broker.StreamPosition) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live && (s.epoch != pos.Epoch || s.offset < pos.Offset)
}
