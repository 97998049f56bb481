package outbound

// maxFrameBytes bounds how much the writer coalesces into one frame, so that
// a backlog does not become one huge frame that a client's read limit
// rejects.
const maxFrameBytes = 64 << 10

// keptSlots is how many messages' worth of slices a connection keeps
// between bursts. A backlog grows them to its own size; keeping that high
// water mark on every connection that ever had a burst made a long run's
// heap creep upwards (by megabytes over minutes at 10,000 connections), for
// an allocation saved per burst.
const keptSlots = 16

// privateStamp marks a private message in queue.stamps; a live
// publication's stamp is a time, never negative.
const privateStamp = -1

// queue is the Conn's messages and their accounting, guarded by Conn.mu.
// The bounds count every byte the connection holds: what is queued and the
// frame being written (inflight), until the writer comes back for the next
// one.
type queue struct {
	items []Message // pending messages, oldest first
	// stamps[i] is items[i]'s Entry.Stamp, or privateStamp for a private
	// message: kept apart from items so that a frame's messages are taken
	// in one copy.
	stamps []int64
	bytes  int // sum of len(items[i].Bytes)
	// inflight is the size of the frame the writer took last; it counts
	// until the writer takes the next one or stops, since until then the
	// transport may still hold it. inflightPrivate is its private part.
	inflight, inflightPrivate int
	// private counts the private bytes queued, in flight or reserved.
	private            int
	maxItems, maxBytes int
	// batch is the writer's buffer for one frame's messages. It lives here,
	// not on the writer, because a writer that has just stopped and the
	// next one may overlap for an instant; only take touches it.
	batch []Message
}

// fits reports whether n more messages of size bytes in all stay within the
// bounds. One message larger than the byte bound still goes out when the
// queue holds nothing at all: a publication may be as large as the largest
// client message, which the configuration lets approach the byte bound.
// Replies are built to fit (the hub's replyBudget).
func (q *queue) fits(n, size int) bool {
	if len(q.items)+n > q.maxItems {
		return false
	}
	if q.bytes+q.inflight+size <= q.maxBytes {
		return true
	}
	return n == 1 && len(q.items) == 0 && q.inflight == 0
}

// append appends e.
func (q *queue) append(e Entry) {
	q.items = append(q.items, Message{Bytes: e.Msg, Shared: e.Shared})
	q.bytes += len(e.Msg)
	stamp := e.Stamp
	if e.Private {
		stamp = privateStamp
		q.private += len(e.Msg)
	}
	q.stamps = append(q.stamps, stamp)
}

// takeFrame moves up to one frame's worth of messages into batch, valid
// until the next call, and counts them as in flight. The queue must not be
// empty.
func (q *queue) takeFrame() (batch []Message, depth int, oldest int64) {
	clear(q.batch)
	dst := q.batch[:0]
	depth = len(q.items)
	n, frame, size, private := 0, 0, 0, 0
	for n < len(q.items) {
		l := len(q.items[n].Bytes)
		if n > 0 && frame+l+1 > maxFrameBytes {
			break
		}
		frame += l + 1
		size += l
		switch t := q.stamps[n]; {
		case t == privateStamp:
			private += l
		case t != 0 && (oldest == 0 || t < oldest):
			oldest = t
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
	return dst, depth, oldest
}

// shrink releases a backlog's large arrays once the queue is empty, so an
// idle connection stays small.
func (q *queue) shrink() {
	clear(q.batch)
	q.batch = q.batch[:0]
	if cap(q.items) > keptSlots {
		q.items, q.stamps, q.batch = nil, nil, nil
	}
}

// releaseInflight stops counting the frame last taken.
func (q *queue) releaseInflight() {
	q.private -= q.inflightPrivate
	q.inflight, q.inflightPrivate = 0, 0
}

// dropItems forgets every queued message and returns how many private
// bytes went with them.
func (q *queue) dropItems() (private int) {
	private = q.private - q.inflightPrivate
	q.private -= private
	clear(q.items)
	q.items, q.stamps, q.bytes = q.items[:0], q.stamps[:0], 0
	if cap(q.items) > keptSlots {
		q.items, q.stamps = nil, nil
	}
	return private
}
