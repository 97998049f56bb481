// Package outbound is the outgoing side of one connection: the bounded queue
// of encoded messages, the writer that packs them into frames, and the rules
// that tie the two together. The hub pushes messages into a Conn; the
// transport gives the Conn the functions that put frames on the wire
// (Writes); nothing else writes to the connection's data stream.
//
// The rules a Conn keeps:
//
//   - Pushing never blocks. A message that does not fit the bounds (messages
//     and bytes, counting the frame being written) fails the Conn: nothing
//     but the final message (PushFinal, Cut) enters after it, so the client
//     never receives a message that follows one it missed. The pusher
//     disconnects the client as a slow consumer.
//   - One writer at a time. Whoever writes holds the writer's role: a writer
//     goroutine, the reader writing its replies on its own goroutine
//     (Uncork), or a fan-out goroutine writing without waiting (Fanout). A
//     writer goroutine exists only while messages are queued, so an idle
//     connection costs none.
//   - Coalescing: the writer takes what is queued, up to maxFrameBytes, and
//     writes it as one frame (JSON: messages separated by newlines; Protobuf:
//     back to back); a transport that frames messages itself
//     (Writes.Messages: one that compresses) gets the frame's messages and
//     may send them as several frames, in one write. The fan-outs of one
//     channel write one round at a time
//     (Rounds), so what is published while a round writes leaves in one
//     frame per subscriber in the next, whichever goroutines publish.
//   - The cork: while the reader handles one frame, the writer waits, so that
//     the replies the frame causes leave together. It waits at most corkMax:
//     a frame whose commands wait for a broker or a proxy does not hold back
//     the connection's live messages for longer.
//   - Non-blocking writes (Writes.TryFrame): a frame the socket does not take
//     whole is finished by Writes.Flush on a writer goroutine before the
//     Conn writes anything else.
//   - The goroutines a Conn starts (writers, fan-out writers) are counted by
//     the Tracker its owner gives, so the owner can wait for them.
//
// Everything but Cork and Uncork may be called from any goroutine; Cork and
// Uncork belong to the connection's reader.
package outbound

import (
	"sync"
	"time"
)

// Writes are the functions a transport gives a Conn to put frames on the
// wire. The Conn calls them from one goroutine at a time (the writer's
// role), never concurrently with each other.
type Writes struct {
	// Frame writes parts, concatenated, as one data frame, waiting for the
	// socket for at most the transport's write timeout. Required.
	Frame func(parts [][]byte) error
	// TryFrame writes parts as one frame as far as the socket takes it
	// without waiting, and reports done when all of it went out. Otherwise
	// the transport keeps the rest, and the Conn calls Flush, from a
	// writer goroutine, before it calls anything else. Nil for a transport
	// that cannot write without waiting (TLS): its frames are written by
	// Frame on a writer goroutine.
	TryFrame func(parts [][]byte) (done bool, err error)
	// Flush writes what TryFrame left, waiting for the socket as Frame
	// does. Required with TryFrame.
	Flush func() error
	// Messages, when not nil, is called in place of Frame and TryFrame
	// for a transport that frames messages itself (one that sends a large
	// message compressed in a frame of its own): it gets the messages one
	// frame of the queue holds, without separators, and writes them in one
	// write as it likes, waiting for the socket as Frame does, or, with
	// try, as TryFrame does. Frame and TryFrame must still be set; which
	// of them is, says whether the transport can write without waiting.
	Messages func(msgs []Message, try bool) (done bool, err error)
}

// Events is what a Conn tells its owner. The methods run on the writer and
// must not push to the Conn.
type Events interface {
	// FrameWritten reports a frame the transport took.
	FrameWritten(FrameStats)
	// Drained reports that the final message (PushFinal, Cut) has been
	// written: the owner closes the connection.
	Drained()
	// WriteFailed reports a failed write. The Conn has closed itself
	// (Close) already; the owner ends the connection.
	WriteFailed(err error)
}

// FrameStats describe one written frame, for the metrics.
type FrameStats struct {
	Bytes    int // payload size, separators included
	Messages int
	Depth    int   // messages queued when the frame was taken
	Oldest   int64 // the smallest stamp in the frame; 0 for none
}

// Budget counts the private bytes of many Conns together (a node's
// outgoing budget): Add(n) with n negative gives bytes back.
type Budget interface{ Add(n int) }

// Tracker counts the goroutines a Conn or a Fanout starts: Add(1) before
// each starts, Done when it ends. A *sync.WaitGroup is one.
type Tracker interface {
	Add(delta int)
	Done()
}

// Config is what a Conn is built with.
type Config struct {
	Writes Writes
	Events Events
	// MaxMessages and MaxBytes bound what the Conn holds: queued messages,
	// and queued bytes plus the frame being written.
	MaxMessages, MaxBytes int
	// Separator goes between the messages of one frame; nil for none.
	Separator []byte
	// Budget counts the private bytes; nil for none.
	Budget Budget
	// Tracker counts the writer goroutines; nil for none.
	Tracker Tracker
}

// Result is what became of a pushed message.
type Result uint8

const (
	// Queued: the message will be written, after everything before it.
	Queued Result = iota
	// Overflowed: the message would exceed the bounds. The Conn has
	// failed: from now on nothing but the final message enters it. The
	// caller disconnects the client as a slow consumer.
	Overflowed
	// Dropped: the Conn is ending (failed, closing or closed); the message
	// is ignored.
	Dropped
)

// Entry is one message to push.
type Entry struct {
	Msg []byte
	// Stamp is the Time of the live publication Msg carries, 0 for
	// anything else; FrameStats.Oldest reports it.
	Stamp int64
	// Private marks a message built for this connection alone (a reply, a
	// recovery page) rather than shared with other subscribers: only
	// those count against the Budget.
	Private bool
	// Shared is the Shared Msg is the bytes of, when it is one (a held
	// live publication); nil otherwise.
	Shared *Shared
}

// Conn is one connection's outgoing side. Its zero value is not usable:
// Init it first.
type Conn struct {
	mu sync.Mutex
	queue
	// The flags share one word: a Conn is part of every connection's
	// hub client, whose size class is memory per connection.
	//
	// writing: the writer's role is held (see the package doc).
	writing bool
	// corked holds back starting a writer while the reader handles a
	// frame; startPending records that one is due, corkTimer (armed when
	// timerArmed) lets it go after corkMax.
	corked, startPending, timerArmed bool
	failed                           bool // a push overflowed: only the final message may enter
	closing                          bool // no more ordinary messages; close after the final drain
	closed                           bool // the connection is gone; drop everything
	// flushDue, owned by the writer's role: TryFrame left part of a
	// frame, which Flush must finish before anything else is written.
	flushDue bool

	corkTimer *time.Timer
	// room, when not nil, is closed the next time bytes are released or
	// the Conn ends, for WaitRoom.
	room chan struct{}

	w       Writes
	events  Events
	sep     []byte
	budget  Budget
	tracker Tracker

	// loop is writeLoop, bound once in Init: a go statement that passes
	// the receiver allocates a closure at every writer start.
	loop func()

	// Owned by the writer's role.
	parts [][]byte
}

// Init prepares c for use; call it once, before anything else.
func (c *Conn) Init(cfg Config) {
	c.w = cfg.Writes
	c.events = cfg.Events
	c.maxItems, c.maxBytes = cfg.MaxMessages, cfg.MaxBytes
	c.sep = cfg.Separator
	c.budget = cfg.Budget
	c.tracker = cfg.Tracker
	c.loop = c.writeLoop
}

// Push appends msg, built for this connection alone, and starts a writer
// unless one runs (or the cork holds it back).
func (c *Conn) Push(msg []byte) Result {
	c.mu.Lock()
	if r := c.refuseLocked(1, len(msg)); r != Queued {
		c.mu.Unlock()
		return r
	}
	c.appendLocked(Entry{Msg: msg, Private: true})
	c.startAndUnlock()
	return Queued
}

// PushLive is Push for a live publication (or presence push) shared with
// other subscribers, msg, whose Time is stamp, without starting the writer:
// claimed reports that the caller took the writer's role and must hand it
// on, after releasing its own locks: to a Fanout (Add) or to a writer
// goroutine (StartWriter).
func (c *Conn) PushLive(msg *Shared, stamp int64) (r Result, claimed bool) {
	c.mu.Lock()
	if r := c.refuseLocked(1, len(msg.Bytes)); r != Queued {
		c.mu.Unlock()
		return r, false
	}
	c.appendLocked(Entry{Msg: msg.Bytes, Stamp: stamp, Shared: msg})
	return Queued, c.claimAndUnlock()
}

// PushAll appends entries as one unit: all of them or none, with nothing
// from another goroutine (a disconnect in particular) between them. It
// refuses exactly what pushing the entries one by one would.
func (c *Conn) PushAll(unit []Entry) Result {
	c.mu.Lock()
	size := 0
	for _, e := range unit {
		size += len(e.Msg)
	}
	if r := c.refuseLocked(len(unit), size); r != Queued {
		c.mu.Unlock()
		return r
	}
	for _, e := range unit {
		c.appendLocked(e)
	}
	c.startAndUnlock()
	return Queued
}

// PushFinal appends msg past the bounds and marks the Conn closing: the
// writer sends what is queued, then msg, then reports Drained. A failed
// Conn still takes it: it is the disconnect that tells the client why. It
// reports false when the Conn was already closing or closed.
func (c *Conn) PushFinal(msg []byte) bool {
	c.mu.Lock()
	if c.closing || c.closed {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	c.appendLocked(Entry{Msg: msg})
	c.wakeLocked()
	c.startAndUnlock()
	return true
}

// Cut fails the Conn and drops what is queued but not yet being written,
// then appends msg as PushFinal does (unless the Conn was closing
// already): for a connection cut to free memory, which recovers what it
// missed when it reconnects. first reports that the Conn was not ending
// before; writing that a frame is being written, whose bytes only the
// transport can let go.
func (c *Conn) Cut(msg []byte) (first, writing bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false, false
	}
	first = !c.closing
	c.failed = true
	c.dropItemsLocked()
	writing = c.inflight > 0
	if !first {
		c.mu.Unlock()
		return false, writing
	}
	c.closing = true
	c.appendLocked(Entry{Msg: msg})
	c.startAndUnlock()
	return true, writing
}

// Close drops everything queued; later pushes are dropped.
func (c *Conn) Close() {
	c.mu.Lock()
	c.closed = true
	c.dropItemsLocked()
	c.releaseInflightLocked()
	c.items, c.stamps = nil, nil
	c.stopCorkTimerLocked()
	c.mu.Unlock()
}

// refuseLocked decides whether n messages of size bytes in all may enter,
// failing the Conn when they overflow it. Called with c.mu held.
func (c *Conn) refuseLocked(n, size int) Result {
	switch {
	case c.failed || c.closing || c.closed:
		return Dropped
	case !c.fits(n, size):
		c.failed = true
		c.wakeLocked()
		return Overflowed
	}
	return Queued
}

// appendLocked appends e. Called with c.mu held.
func (c *Conn) appendLocked(e Entry) {
	c.queue.append(e)
	if e.Private && c.budget != nil {
		c.budget.Add(len(e.Msg))
	}
}

// WaitRoom waits until n messages of size bytes in all fit the bounds, and
// reports true then; it reports false, at once or later, when the Conn
// ends or fails, since nothing more will fit. The caller must not hold
// back the writer (Cork) or hold a lock that delivery takes while it
// waits. A writer always makes progress or fails within the transport's
// write timeout, so the wait ends.
func (c *Conn) WaitRoom(n, size int) bool {
	for {
		c.mu.Lock()
		if c.failed || c.closing || c.closed {
			c.mu.Unlock()
			return false
		}
		if c.fits(n, size) || len(c.items) == 0 && c.inflight == 0 {
			c.mu.Unlock()
			return true
		}
		if c.room == nil {
			c.room = make(chan struct{})
		}
		room := c.room
		c.mu.Unlock()
		<-room
	}
}

// HasRoom reports whether a message of size bytes fits the bounds now.
func (c *Conn) HasRoom(size int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fits(1, size)
}

// Reserve counts n more private bytes (fewer when negative) that are not
// queued yet: a reply waiting for room.
func (c *Conn) Reserve(n int) {
	c.mu.Lock()
	c.private += n
	c.mu.Unlock()
	if c.budget != nil {
		c.budget.Add(n)
	}
}

// Ending reports whether the Conn takes no more ordinary messages.
func (c *Conn) Ending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed || c.closing || c.closed
}

// PrivateBytes returns the private bytes queued, in flight or reserved.
func (c *Conn) PrivateBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.private
}

// releaseInflightLocked stops counting the frame last taken, which the
// writer has finished with, and wakes WaitRoom. Called with c.mu held.
func (c *Conn) releaseInflightLocked() {
	if c.inflight == 0 {
		return
	}
	if c.budget != nil {
		c.budget.Add(-c.inflightPrivate)
	}
	c.queue.releaseInflight()
	c.wakeLocked()
}

// dropItemsLocked forgets every queued message. Called with c.mu held.
func (c *Conn) dropItemsLocked() {
	if n := c.queue.dropItems(); n != 0 && c.budget != nil {
		c.budget.Add(-n)
	}
	c.wakeLocked()
}

// wakeLocked wakes the goroutines in WaitRoom. Called with c.mu held.
func (c *Conn) wakeLocked() {
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
}
