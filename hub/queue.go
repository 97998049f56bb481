package hub

import "sync"

// maxFrameBytes bounds how much the writer coalesces into one frame, so that a
// backlog does not become one huge frame that a client's read limit rejects.
const maxFrameBytes = 64 << 10

// keptSlots is how many messages' worth of slices a connection keeps
// between bursts. A backlog grows them to its own size; keeping that high
// water mark on every connection that ever had a burst made a long run's
// heap creep upwards (by megabytes over minutes at 10,000 connections), for
// an allocation saved per burst.
const keptSlots = 16

// pushResult is what became of a message handed to a writeQueue.
type pushResult uint8

const (
	// queued: the message will be written, after everything before it.
	queued pushResult = iota
	// overflowed: the message would exceed the queue's bounds. The queue
	// has failed: from now on nothing but the final disconnect enters it,
	// so the client never receives anything that followed a message it
	// missed. The caller disconnects the client as a slow consumer.
	overflowed
	// dropped: the queue is ending (failed, closing or closed); the
	// message is ignored.
	dropped
)

// entry is one queued message.
type entry struct {
	msg []byte
	// stamp is the Time of the live publication msg carries, 0 for
	// anything else; it feeds the delivery latency metric.
	stamp int64
	// private marks a message built for this connection alone (a reply, a
	// recovery page) rather than shared with other subscribers: only those
	// count against the hub's outgoing budget.
	private bool
}

// writeQueue is a connection's bounded outgoing queue. Enqueueing never
// blocks: it appends shared, immutable byte slices and, when no writer is
// running, starts one. The writer goroutine exists only while the queue is
// non-empty, so an idle connection costs no goroutine beyond its reader;
// replies to a frame the reader handled are written by the reader itself
// (see uncork). Whoever writes holds the writer's role (writing), so frames
// never interleave.
//
// The bounds count every byte the connection holds: what is queued and the
// batch being written (inflight), until the writer comes back for the next
// batch. A message that does not fit fails the queue (see overflowed).
type writeQueue struct {
	mu    sync.Mutex
	items [][]byte // pending messages, oldest first
	// stamps[i] is items[i]'s entry.stamp, or privateStamp for a private
	// message: kept apart from items so that a frame's messages are
	// taken in one copy.
	stamps []int64
	bytes  int // sum of len(items[i])
	// inflight is the size of the batch the writer took last; it counts
	// until the writer takes the next one or stops, since until then the
	// transport may still hold it. inflightPrivate is its private part.
	inflight, inflightPrivate int
	// private counts the private bytes queued or in flight, against
	// budget (nil: none).
	private int
	budget  *outgoingBudget
	writing bool // a writer goroutine is running
	// corked holds back starting a writer while the reader handles a
	// frame (see cork); startPending records that one is due.
	corked       bool
	startPending bool
	failed       bool // a push overflowed: only the final message may enter
	closing      bool // no more ordinary messages; close after the final drain
	closed       bool // the connection is gone; drop everything
	maxItems     int
	maxBytes     int
	// room, when not nil, is closed the next time bytes are released or
	// the queue ends, for waitRoom.
	room chan struct{}
	// batch is the writer's buffer for one frame's messages. It lives here,
	// not on the writer, because a writer that has just stopped and the next
	// one may overlap for an instant; only take touches it, under mu.
	batch [][]byte
	// flush is the writer's body, bound once at construction so starting a
	// writer allocates no closure.
	flush func()
	// inline, when set, is a bounded writer body that uncork runs on its
	// own goroutine; it reports whether writing must go on in a flush
	// goroutine.
	inline func() (more bool)
}

// fits reports whether n more messages of size bytes in all stay within the
// bounds. One message larger than the byte bound still goes out when the
// queue holds nothing at all: a publication may be as large as the largest
// client message, which the configuration lets approach the byte bound.
// Replies are built to fit (see replyBudget). Called with q.mu held.
func (q *writeQueue) fits(n, size int) bool {
	if len(q.items)+n > q.maxItems {
		return false
	}
	if q.bytes+q.inflight+size <= q.maxBytes {
		return true
	}
	return n == 1 && len(q.items) == 0 && q.inflight == 0
}

// push appends msg, built for this connection alone, and starts a writer
// unless one runs.
func (q *writeQueue) push(msg []byte) pushResult {
	q.mu.Lock()
	if r := q.refuseLocked(1, len(msg)); r != queued {
		q.mu.Unlock()
		return r
	}
	q.appendLocked(entry{msg: msg, private: true})
	q.startAndUnlock()
	return queued
}

// pushLive is push for a live publication (or presence push) shared with
// other subscribers, whose Time is stamp, without starting the writer:
// claimed reports that the caller took the writer's role and must see that
// a writer runs.
func (q *writeQueue) pushLive(msg []byte, stamp int64) (r pushResult, claimed bool) {
	q.mu.Lock()
	if r := q.refuseLocked(1, len(msg)); r != queued {
		q.mu.Unlock()
		return r, false
	}
	q.appendLocked(entry{msg: msg, stamp: stamp})
	return queued, q.claimAndUnlock()
}

// pushAll appends entries as one unit: all of them or none, with nothing
// from another goroutine (a disconnect in particular) between them. It
// refuses exactly what pushing the entries one by one would.
func (q *writeQueue) pushAll(unit []entry) pushResult {
	q.mu.Lock()
	size := 0
	for _, e := range unit {
		size += len(e.msg)
	}
	if r := q.refuseLocked(len(unit), size); r != queued {
		q.mu.Unlock()
		return r
	}
	for _, e := range unit {
		q.appendLocked(e)
	}
	q.startAndUnlock()
	return queued
}

// refuseLocked decides whether n messages of size bytes in all may enter,
// failing the queue when they overflow it. Called with q.mu held.
func (q *writeQueue) refuseLocked(n, size int) pushResult {
	switch {
	case q.failed || q.closing || q.closed:
		return dropped
	case !q.fits(n, size):
		q.failed = true
		q.wakeLocked()
		return overflowed
	}
	return queued
}

// privateStamp marks a private message in writeQueue.stamps; a live
// publication's stamp is a time, never negative.
const privateStamp = -1

// appendLocked appends e. Called with q.mu held.
func (q *writeQueue) appendLocked(e entry) {
	q.items = append(q.items, e.msg)
	q.bytes += len(e.msg)
	stamp := e.stamp
	if e.private {
		stamp = privateStamp
		q.private += len(e.msg)
		q.budget.add(len(e.msg))
	}
	q.stamps = append(q.stamps, stamp)
}

// startAndUnlock releases q.mu and starts a writer unless one is running.
// Called with q.mu held.
func (q *writeQueue) startAndUnlock() {
	if q.claimAndUnlock() {
		go q.flush()
	}
}

// claimAndUnlock releases q.mu and reports whether the caller took the
// writer's role (no writer was running, and none is held back by cork), in
// which case it must start one. Called with q.mu held.
func (q *writeQueue) claimAndUnlock() bool {
	if q.corked && !q.writing {
		q.startPending = true
		q.mu.Unlock()
		return false
	}
	start := !q.writing
	q.writing = true
	q.mu.Unlock()
	return start
}

// cork holds back the writer until uncork, so that what the reader queues
// while it handles one frame (a publish's reply and the push it causes for
// the publisher itself, or the replies of batched commands) leaves in one
// frame and one write instead of racing a writer that sends the first
// message alone. Pushes from other goroutines wait too, for as long as the
// frame takes; the reader uncorks before anything that may block for long.
func (q *writeQueue) cork() {
	q.mu.Lock()
	q.corked = true
	q.mu.Unlock()
}

// inlineMax bounds what uncork writes on the reader's own goroutine: a
// larger backlog (a long history reply) goes to a flush goroutine, so that
// the reader is not held for the time a slow client takes to read it.
const inlineMax = maxFrameBytes

// uncork starts the writer if a push asked for one while corked. The
// writer's first frame (usually all of it: the replies to the frame just
// handled) is written right here, on the reader's goroutine, as a plain
// request/response server would: handing it to a new goroutine costs a
// goroutine start and a wake-up per round trip. Whatever is left after that
// frame goes to a flush goroutine, so a connection with a backlog does not
// keep its reader from reading.
func (q *writeQueue) uncork() {
	q.mu.Lock()
	q.corked = false
	if !q.startPending {
		q.mu.Unlock()
		return
	}
	q.startPending = false
	if q.inline == nil || q.writing || q.bytes > inlineMax {
		q.startAndUnlock()
		return
	}
	q.writing = true
	q.mu.Unlock()
	if q.inline() {
		go q.flush()
	}
}

// pushFinal appends msg past the bounds and marks the queue closing: the
// writer sends what is queued, then msg, then ends the connection. A failed
// queue still takes it: it is the disconnect that tells the client why. It
// reports false when the queue was already closing or closed.
func (q *writeQueue) pushFinal(msg []byte) bool {
	q.mu.Lock()
	if q.closing || q.closed {
		q.mu.Unlock()
		return false
	}
	q.closing = true
	q.appendLocked(entry{msg: msg})
	q.wakeLocked()
	q.startAndUnlock()
	return true
}

// cut fails the queue and drops what is queued but not yet being written,
// then appends msg as pushFinal does (unless the queue was closing
// already): for a connection cut to free memory, which recovers what it
// missed when it reconnects. first reports that the queue was not ending
// before; writing that a frame is being written, whose bytes only the
// transport can let go.
func (q *writeQueue) cut(msg []byte) (first, writing bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, false
	}
	first = !q.closing
	q.failed = true
	q.dropItemsLocked()
	writing = q.inflight > 0
	if !first {
		q.mu.Unlock()
		return false, writing
	}
	q.closing = true
	q.appendLocked(entry{msg: msg})
	q.startAndUnlock()
	return true, writing
}

// frameStats describe a batch that take returned, for the metrics.
type frameStats struct {
	depth  int   // messages queued when the batch was taken
	oldest int64 // the smallest non-zero stamp in the batch; 0 for none
}

// take returns up to one frame's worth of messages, valid until the next
// take, and reports whether the queue is closing and now empty. When there
// is nothing to take the writer must stop: writing is false from then on and
// the next push starts a new one. Taking a batch means the previous one has
// been written: its bytes no longer count.
func (q *writeQueue) take() (batch [][]byte, st frameStats, finished bool, stop bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseInflightLocked()
	clear(q.batch)
	dst := q.batch[:0]
	if q.closed {
		q.writing = false
		q.items, q.stamps, q.bytes, q.batch = nil, nil, 0, nil
		return nil, st, false, true
	}
	if len(q.items) == 0 {
		q.writing = false
		if q.closing {
			return nil, st, true, true
		}
		// Release a backlog's large array so an idle connection stays small.
		if cap(q.items) > keptSlots {
			q.items, q.stamps, q.batch = nil, nil, nil
		}
		return nil, st, false, true
	}
	st.depth = len(q.items)
	n, frame, size, private := 0, 0, 0, 0
	for n < len(q.items) {
		l := len(q.items[n])
		if n > 0 && frame+l+1 > maxFrameBytes {
			break
		}
		frame += l + 1
		size += l
		switch t := q.stamps[n]; {
		case t == privateStamp:
			private += l
		case t != 0 && (st.oldest == 0 || t < st.oldest):
			st.oldest = t
		}
		n++
	}
	dst = append(dst, q.items[:n]...)
	q.batch = dst
	// Shift rather than reslice so the array is reused instead of leaking
	// its prefix.
	rest := copy(q.items, q.items[n:])
	copy(q.stamps, q.stamps[n:])
	clear(q.items[rest:])
	q.items = q.items[:rest]
	q.stamps = q.stamps[:rest]
	q.bytes -= size
	q.inflight, q.inflightPrivate = size, private
	return dst, st, false, false
}

// releaseInflightLocked stops counting the batch last taken, which the
// writer has finished with, and wakes waitRoom. Called with q.mu held.
func (q *writeQueue) releaseInflightLocked() {
	if q.inflight == 0 {
		return
	}
	q.private -= q.inflightPrivate
	q.budget.add(-q.inflightPrivate)
	q.inflight, q.inflightPrivate = 0, 0
	q.wakeLocked()
}

// dropItemsLocked forgets every queued message. Called with q.mu held.
func (q *writeQueue) dropItemsLocked() {
	queuedPrivate := q.private - q.inflightPrivate
	q.private -= queuedPrivate
	q.budget.add(-queuedPrivate)
	clear(q.items)
	q.items, q.stamps, q.bytes = q.items[:0], q.stamps[:0], 0
	if cap(q.items) > keptSlots {
		q.items, q.stamps = nil, nil
	}
	q.wakeLocked()
}

// wakeLocked wakes the goroutines in waitRoom. Called with q.mu held.
func (q *writeQueue) wakeLocked() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// keepWriting is for a writer that stops before the queue is empty: it
// reports whether anything is left for another writer (messages, a close
// to finish, a closed queue to clear) and otherwise gives up the writer's
// role, as take does when it finds the queue empty.
func (q *writeQueue) keepWriting() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 || q.closing || q.closed {
		return true
	}
	q.releaseInflightLocked()
	q.writing = false
	return false
}

// waitRoom waits until n messages of size bytes in all fit the bounds, and
// reports true then; it reports false, at once or later, when the queue ends or
// fails, since nothing more will fit. The caller must not hold back the
// writer (cork) or hold a lock that delivery takes while it waits. A writer
// always makes progress or fails within the transport's write timeout, so
// the wait ends.
func (q *writeQueue) waitRoom(n, size int) bool {
	for {
		q.mu.Lock()
		if q.failed || q.closing || q.closed {
			q.mu.Unlock()
			return false
		}
		if q.fits(n, size) || len(q.items) == 0 && q.inflight == 0 {
			q.mu.Unlock()
			return true
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		<-room
	}
}

// reserve counts n more private bytes (fewer when negative) that are not
// queued yet: a reply waiting for room.
func (q *writeQueue) reserve(n int) {
	q.mu.Lock()
	q.private += n
	q.mu.Unlock()
	q.budget.add(n)
}

// ending reports whether the queue takes no more ordinary messages.
func (q *writeQueue) ending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failed || q.closing || q.closed
}

// hasRoom reports whether a message of size bytes fits the bounds now.
func (q *writeQueue) hasRoom(size int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.fits(1, size)
}

// close drops everything queued; later pushes are ignored.
func (q *writeQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.dropItemsLocked()
	q.releaseInflightLocked()
	q.items, q.stamps = nil, nil
	q.mu.Unlock()
}

// depth returns the number of queued messages.
func (q *writeQueue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// privateBytes returns the private bytes queued or in flight.
func (q *writeQueue) privateBytes() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.private
}
