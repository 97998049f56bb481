package hub

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// outgoingBudget bounds the bytes the whole node holds for single
// connections: replies and recovery pages, queued or being written. Each
// connection's queue is bounded already, but every connection may fill its
// own (a never-reading client asking for a long history, a hundred times
// over): past the budget, the connections holding the most are cut with
// 4001, their queued bytes dropped at once. They reconnect and recover.
//
// Live publications are not counted: one encoded push is shared by every
// subscriber's queue, so its bytes are held once whatever the number of
// queues, and each queue's bounds already limit how far behind a
// subscriber may fall.
type outgoingBudget struct {
	limit int64
	used  atomic.Int64
	// sweeping is set while a sweep runs or is due; next is the earliest
	// time, in unix nanoseconds, another may start, so a node that stays
	// over budget (bytes in flight to stalled sockets) does not scan its
	// clients continuously.
	sweeping atomic.Bool
	next     atomic.Int64
	sweep    func()
	// spawn runs a sweep on a goroutine the hub waits for; false when
	// the hub is shutting down and runs nothing more (Hub.goTracked).
	spawn func(func()) bool
}

// sweepInterval is the least time between two sweeps.
const sweepInterval = 100 * time.Millisecond

// Add counts n more bytes (fewer when negative) and starts a sweep when
// the total passes the limit. A nil budget counts nothing. The clients'
// outbound.Conns call it.
func (b *outgoingBudget) Add(n int) {
	if b == nil || n == 0 {
		return
	}
	used := b.used.Add(int64(n))
	if n < 0 || used <= b.limit {
		return
	}
	b.startSweep()
}

// startSweep starts a sweep, unless one runs or the last ended less than
// sweepInterval ago.
func (b *outgoingBudget) startSweep() {
	if time.Now().UnixNano() < b.next.Load() || !b.sweeping.CompareAndSwap(false, true) {
		return
	}
	started := b.spawn(func() {
		defer b.sweeping.Store(false)
		b.sweep()
		b.next.Store(time.Now().Add(sweepInterval).UnixNano())
	})
	if !started {
		b.sweeping.Store(false) // shutting down: every connection is closing
	}
}

// busy reports whether the node holds more than the sweep's target: work
// that can wait (a history reply, a catch-up's next page) waits. A nil
// budget is never busy.
func (b *outgoingBudget) busy() bool {
	return b != nil && b.used.Load() > int64(float64(b.limit)*budgetTarget)
}

// waitRoom waits while the budget is busy, for work that can wait, and
// reports whether it may go on (false: sleep said the hub is stopping, or
// gone said the waiter's connection is). Meanwhile it starts sweeps: with
// usage between the target and the limit nothing else would, and bytes
// held by clients that read slowly, or not at all, would keep every waiter
// waiting until those clients' write timeouts.
func (b *outgoingBudget) waitRoom(sleep func(time.Duration) bool, gone func() bool) bool {
	for b.busy() {
		if gone() {
			return false
		}
		b.startSweep()
		if !sleep(budgetPoll) {
			return false
		}
	}
	return true
}

// budgetPoll is how often a waiting catch-up looks at the budget again.
const budgetPoll = 20 * time.Millisecond

// budgetTarget is the share of the budget a sweep brings usage down to,
// so that a node at its limit does not sweep for every new reply.
const budgetTarget = 0.9

// cutLargest disconnects the clients holding the most private bytes with
// 4001 until the budget's usage would be below its target.
func (h *Hub) cutLargest() {
	b := h.budget
	excess := b.used.Load() - int64(float64(b.limit)*budgetTarget)
	if excess <= 0 {
		return
	}
	type holder struct {
		c *Client
		n int
	}
	var holders []holder
	for _, c := range h.clients.all() {
		if n := c.out.PrivateBytes(); n > 0 {
			holders = append(holders, holder{c, n})
		}
	}
	slices.SortFunc(holders, func(a, b holder) int { return b.n - a.n })
	cut := 0
	for _, hd := range holders {
		if excess <= 0 {
			break
		}
		hd.c.cutSlowConsumer()
		excess -= int64(hd.n)
		cut++
	}
	if cut > 0 {
		h.log.Warn("outgoing budget exceeded: cut the largest consumers", "clients", cut, "limit_bytes", b.limit)
	}
}

// cutSlowConsumer ends a connection whose queue holds too much for the
// node: what is queued is dropped at once and a 4001 disconnect follows.
// A frame still being written (to a client that does not read) is let go
// by dropping the connection, if the transport can (Aborter): waiting for
// the write timeout would keep its bytes for as long.
func (c *Client) cutSlowConsumer() {
	d := protocol.DisconnectSlowConsumer
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.pendingClose(d)
	c.mu.Unlock()
	first, writing := c.out.Cut(c.enc.AppendDisconnectPush(nil, d))
	if first {
		c.hub.metrics.slowConsumers.Add(1)
		c.hub.obs.SlowConsumer()
		c.hub.obs.Queued(c.enc, protocol.PushDisconnect, 1)
	}
	if a, ok := c.t.(Aborter); ok && writing {
		c.closeCode.CompareAndSwap(0, uint32(d.Code))
		a.Abort()
	}
}

// Aborter is implemented by a Transport that can drop its connection at
// once, without the close handshake and without waiting for a write in
// progress, which then fails.
type Aborter interface {
	Abort()
}
