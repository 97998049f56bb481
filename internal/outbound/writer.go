package outbound

import "time"

// inlineMax bounds what Uncork writes on the reader's own goroutine: a
// larger backlog (a long history reply) goes to a writer goroutine, so that
// the reader is not held for the time a slow client takes to read it.
const inlineMax = maxFrameBytes

// corkMax is the longest the cork holds back a message: a round trip to a
// broker or a proxy on the same network takes well under it, and a frame
// whose commands take longer (a hundred of them, each waiting for an
// engine that is slow to answer) lets the writer go rather than keep the
// connection's live messages waiting for all of them.
const corkMax = 10 * time.Millisecond

// startAndUnlock releases c.mu and starts a writer unless one is running.
// Called with c.mu held.
func (c *Conn) startAndUnlock() {
	if c.claimAndUnlock() {
		c.StartWriter()
	}
}

// claimAndUnlock releases c.mu and reports whether the caller took the
// writer's role (no writer was running, and none is held back by the
// cork), in which case it must start one. Called with c.mu held.
func (c *Conn) claimAndUnlock() bool {
	if c.corked && !c.writing {
		if !c.startPending {
			c.startPending = true
			c.armCorkTimerLocked()
		}
		c.mu.Unlock()
		return false
	}
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	return start
}

// Cork holds back the writer until Uncork, so that what the reader queues
// while it handles one frame (a publish's reply and the push it causes for
// the publisher itself, or the replies of batched commands) leaves in one
// frame and one write instead of racing a writer that sends the first
// message alone. Pushes from other goroutines wait too, for at most
// corkMax: a frame whose commands wait for a broker or a proxy lets the
// writer go then, and the cork holds back only what is pushed while no
// writer runs.
func (c *Conn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork starts the writer if a push asked for one while corked. The
// writer's first frame (usually all of it: the replies to the frame just
// handled) is written right here, on the reader's goroutine, as a plain
// request/response server would: handing it to a new goroutine costs a
// goroutine start and a wake-up per round trip. Whatever is left after that
// frame goes to a writer goroutine, so a connection with a backlog does not
// keep its reader from reading. The reader uncorks before it waits for the
// writer (WaitRoom).
func (c *Conn) Uncork() {
	c.mu.Lock()
	c.corked = false
	c.stopCorkTimerLocked()
	if !c.startPending {
		c.mu.Unlock()
		return
	}
	c.startPending = false
	if c.writing || c.bytes > inlineMax {
		c.startAndUnlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	if c.writeFrames(1, false) {
		c.StartWriter()
	}
}

// armCorkTimerLocked makes the writer start corkMax from now unless the
// reader uncorks first. The timer is made on the first frame that needs it
// and kept while the connection is busy; ReleaseIdle lets it go once
// the connection is quiet, so an idle connection holds none. Called with
// c.mu held.
func (c *Conn) armCorkTimerLocked() {
	c.timerArmed = true
	if c.corkTimer == nil {
		c.corkTimer = time.AfterFunc(corkMax, c.corkExpired)
		return
	}
	c.corkTimer.Reset(corkMax)
}

// ReleaseIdle lets go of what only a busy connection needs: the cork's
// timer unless it is armed, and, while nothing is queued or being
// written, the arrays of the queue and of the writer's frame. The owner
// calls it now and then (the hub with each heartbeat ping), so that a
// connection quiet since the last call holds none of them (about 200
// bytes) and a busy one makes them again at most once a call.
func (c *Conn) ReleaseIdle() {
	c.mu.Lock()
	if !c.timerArmed {
		c.corkTimer = nil
	}
	// Not writing: no one holds the writer's role, the only one that
	// touches parts and batch outside the lock.
	if !c.writing && !c.flushDue && len(c.items) == 0 && c.inflight == 0 {
		c.items, c.stamps, c.batch, c.parts = nil, nil, nil, nil
	}
	c.mu.Unlock()
}

// stopCorkTimerLocked disarms the cork's timer. A callback already running
// may still start a writer for a later frame's cork: that costs that
// frame some coalescing, never order. Called with c.mu held.
func (c *Conn) stopCorkTimerLocked() {
	if c.timerArmed {
		c.corkTimer.Stop()
		c.timerArmed = false
	}
}

// corkExpired starts the writer the cork has held back for corkMax. The
// cork stays: what is pushed after this writer stops waits again.
func (c *Conn) corkExpired() {
	c.mu.Lock()
	c.timerArmed = false
	if !c.corked || !c.startPending || c.writing || c.closed {
		c.mu.Unlock()
		return
	}
	c.startPending = false
	c.writing = true
	c.mu.Unlock()
	c.StartWriter()
}

// StartWriter starts a writer goroutine for a caller that holds the
// writer's role (PushLive's claimed).
func (c *Conn) StartWriter() {
	if c.tracker != nil {
		c.tracker.Add(1)
	}
	go c.loop()
}

// writeLoop is the writer goroutine: it finishes a frame TryFrame left,
// then drains the queue, packing queued messages into as few frames as
// possible, and ends when the queue is empty.
func (c *Conn) writeLoop() {
	if c.tracker != nil {
		defer c.tracker.Done()
	}
	if c.flushDue {
		c.flushDue = false
		if err := c.w.Flush(); err != nil {
			c.writeFailed(err)
			return
		}
	}
	c.writeFrames(-1, false)
}

// take returns up to one frame's worth of messages, valid until the next
// take, and reports whether the Conn is closing and now empty. When there
// is nothing to take the writer must stop: the writer's role is given up
// and the next push starts a new one. Taking a frame means the previous one
// has been written: its bytes no longer count.
func (c *Conn) take() (batch []Message, depth int, oldest int64, finished, stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseInflightLocked()
	if c.closed {
		c.writing = false
		c.items, c.stamps, c.bytes, c.batch = nil, nil, 0, nil
		return nil, 0, 0, false, true
	}
	if len(c.items) == 0 {
		c.writing = false
		c.shrink()
		return nil, 0, 0, c.closing, true
	}
	batch, depth, oldest = c.takeFrame()
	return batch, depth, oldest, false, false
}

// keepWriting is for a writer that stops before the queue is empty: it
// reports whether anything is left for another writer (messages, a close
// to finish, a closed Conn to clear) and otherwise gives up the writer's
// role, as take does when it finds the queue empty.
func (c *Conn) keepWriting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.items) > 0 || c.closing || c.closed {
		return true
	}
	c.releaseInflightLocked()
	c.writing = false
	return false
}

// writeFrames writes up to limit frames (no limit when negative) and
// reports whether the queue still holds messages for the writer, which the
// caller then must keep draining in a writer goroutine (StartWriter). With
// try, frames are written without waiting for the socket (Writes.TryFrame);
// a frame the socket did not take whole also ends the call with more, for
// the writer goroutine to Flush.
func (c *Conn) writeFrames(limit int, try bool) (more bool) {
	for n := 0; n != limit; n++ {
		batch, depth, oldest, finished, stop := c.take()
		if finished {
			c.events.Drained()
			return false
		}
		if stop {
			return false
		}
		parts := c.parts[:0]
		size := 0
		for i, m := range batch {
			if i > 0 && c.sep != nil {
				if c.w.Messages == nil {
					parts = append(parts, c.sep)
				}
				size += len(c.sep)
			}
			if c.w.Messages == nil {
				parts = append(parts, m.Bytes)
			}
			size += len(m.Bytes)
		}
		done := true
		var err error
		switch {
		case c.w.Messages != nil:
			done, err = c.w.Messages(batch, try)
		case try:
			done, err = c.w.TryFrame(parts)
		default:
			err = c.w.Frame(parts)
		}
		// Written or failed, the frame's messages are let go now: a writer
		// that stops here may not take another batch for a long time.
		clear(parts)
		clear(batch)
		c.parts = parts[:0]
		if cap(parts) > 2*keptSlots { // message and separator per slot
			c.parts = nil
		}
		if err != nil {
			c.writeFailed(err)
			return false
		}
		c.events.FrameWritten(FrameStats{Bytes: size, Messages: len(batch), Depth: depth, Oldest: oldest})
		if !done {
			c.flushDue = true
			return true
		}
	}
	return c.keepWriting()
}

// writeFailed closes the Conn after a failed write and tells the owner.
func (c *Conn) writeFailed(err error) {
	c.Close()
	c.events.WriteFailed(err)
}
