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

// writeQueue is a connection's bounded outgoing queue. Enqueue never blocks:
// it appends shared, immutable byte slices and, when no writer is running,
// starts one. The writer goroutine exists only while the queue is non-empty,
// so an idle connection costs no goroutine beyond its reader; replies to a
// frame the reader handled are written by the reader itself (see uncork).
// Whoever writes holds the writer's role (writing), so frames never
// interleave.
type writeQueue struct {
	mu    sync.Mutex
	items [][]byte // pending messages, oldest first
	// stamps[i] is the Time of the live publication items[i] carries, 0
	// for anything else; it feeds the delivery latency metric.
	stamps  []int64
	bytes   int  // sum of len(items[i])
	writing bool // a writer goroutine is running
	// corked holds back starting a writer while the reader handles a
	// frame (see cork); startPending records that one is due.
	corked       bool
	startPending bool
	closing      bool // no more ordinary messages; close after the final drain
	closed       bool // the connection is gone; drop everything
	maxItems     int
	maxBytes     int
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

// push appends msg. It reports false when the queue would overflow its bounds
// (the caller disconnects the client as a slow consumer) and reports true
// without queueing when the queue is closing or closed (the message is
// dropped: the connection is going away).
func (q *writeQueue) push(msg []byte) bool {
	ok, claimed := q.pushLive(msg, 0)
	if claimed {
		go q.flush()
	}
	return ok
}

// pushLive is push for a live publication whose Time is stamp, without
// starting the writer: claimed reports that the caller took the writer's
// role and must see that a writer runs.
func (q *writeQueue) pushLive(msg []byte, stamp int64) (ok, claimed bool) {
	q.mu.Lock()
	if q.closing || q.closed {
		q.mu.Unlock()
		return true, false
	}
	// The bounds limit backlog: one message larger than maxBytes (a long
	// history reply) still goes out when nothing is waiting before it.
	if len(q.items) >= q.maxItems || (len(q.items) > 0 && q.bytes+len(msg) > q.maxBytes) {
		q.mu.Unlock()
		return false, false
	}
	q.items = append(q.items, msg)
	q.stamps = append(q.stamps, stamp)
	q.bytes += len(msg)
	return true, q.claimAndUnlock()
}

// pushAll appends msgs as one unit: all of them or none, with nothing from
// another goroutine (a disconnect in particular) between them. It answers
// like push and refuses exactly what pushing the messages one by one would.
func (q *writeQueue) pushAll(msgs [][]byte) bool {
	q.mu.Lock()
	if q.closing || q.closed {
		q.mu.Unlock()
		return true
	}
	size := 0
	for _, m := range msgs {
		size += len(m)
	}
	n := len(q.items) + len(msgs)
	if n > q.maxItems || (n > 1 && q.bytes+size > q.maxBytes) {
		q.mu.Unlock()
		return false
	}
	q.appendAndUnlock(msgs...)
	return true
}

// appendAndUnlock appends msgs, releases q.mu and starts a writer unless one
// is running. Called with q.mu held.
func (q *writeQueue) appendAndUnlock(msgs ...[]byte) {
	for _, msg := range msgs {
		if msg != nil {
			q.items = append(q.items, msg)
			q.stamps = append(q.stamps, 0)
			q.bytes += len(msg)
		}
	}
	q.startAndUnlock()
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
	if q.inline == nil || q.writing {
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
// writer sends what is queued, then msg, then ends the connection. It reports
// false when the queue was already closing or closed.
func (q *writeQueue) pushFinal(msg []byte) bool {
	q.mu.Lock()
	if q.closing || q.closed {
		q.mu.Unlock()
		return false
	}
	q.closing = true
	q.appendAndUnlock(msg)
	return true
}

// frameStats describe a batch that take returned, for the metrics.
type frameStats struct {
	depth  int   // messages queued when the batch was taken
	oldest int64 // the smallest non-zero stamp in the batch; 0 for none
}

// take returns up to one frame's worth of messages, valid until the next
// take, and reports whether the queue is closing and now empty. When there
// is nothing to take the writer must stop: writing is false from then on and
// the next push starts a new one.
func (q *writeQueue) take() (batch [][]byte, st frameStats, finished bool, stop bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
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
	n, size := 0, 0
	for n < len(q.items) {
		l := len(q.items[n])
		if n > 0 && size+l+1 > maxFrameBytes {
			break
		}
		size += l + 1
		if t := q.stamps[n]; t != 0 && (st.oldest == 0 || t < st.oldest) {
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
	for i := rest; i < len(q.items); i++ {
		q.items[i] = nil
	}
	q.items = q.items[:rest]
	q.stamps = q.stamps[:rest]
	q.bytes -= size - n
	return dst, st, false, false
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
	q.writing = false
	return false
}

// close drops everything queued; later pushes are ignored.
func (q *writeQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.items, q.stamps, q.bytes = nil, nil, 0
	q.mu.Unlock()
}

// depth returns the number of queued messages.
func (q *writeQueue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
