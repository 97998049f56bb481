package outbound

import "sync"

// Rounds runs the fan-outs of one source of publications (a channel) one
// round at a time: a Fanout started while the previous round is still
// writing does not start writers of its own; its Conns join the next
// round, which starts when the running one ends and takes every Conn
// claimed meanwhile. A Conn's messages pushed while it waits leave in the
// one frame the next round writes.
//
// Without rounds, each publication's fan-out writes its subscribers at
// once, so whenever a fan-out runs before the next publication is pushed
// every publication costs each subscriber a frame and a write(2). That is
// what happens when publications arrive one per goroutine (server API
// requests, a broker's receive loop): the fan-out writers a publication
// starts are scheduled ahead of the goroutine carrying the next one. A
// client connection's reader, which handles several publish commands read
// together before yielding, coalesced; the API did not, and at 1,000
// subscribers stayed at a few messages per frame while it fell seconds
// behind (BENCHMARKS.md, "API-published fan-out").
//
// A Fanout that finds no round running starts at once: publications far
// enough apart are written as soon as without rounds. One that finds a
// round running waits at most for the rest of it, and so does everything
// else pushed to its Conns meanwhile (a reply), since a Conn waiting for
// a round holds the writer's role. The rounds' writers never wait for a
// socket (TryFrame), so a round ends.
type Rounds struct {
	mu      sync.Mutex
	running bool    // a round's fan-out writers are writing
	next    []*Conn // the Conns claimed since: the next round
}

// Start writes to f's Conns now (Fanout.Start), or in the round after the
// one running. A nil r starts f at once. It hands f back to the pool.
func (r *Rounds) Start(f *Fanout) {
	if r == nil {
		f.Start()
		return
	}
	if len(f.conns) == 0 {
		f.release()
		return
	}
	r.mu.Lock()
	if r.running {
		r.next = append(r.next, f.conns...)
		r.mu.Unlock()
		f.release()
		return
	}
	r.running = true
	r.mu.Unlock()
	r.run(f)
}

// run starts f as the running round. A round with no fan-out writers (its
// Conns write with writer goroutines of their own) ends at once, and the
// next one starts here.
func (r *Rounds) run(f *Fanout) {
	tracker := f.tracker
	for {
		f.rounds = r
		if f.start() {
			return
		}
		if f = r.take(tracker); f == nil {
			return
		}
	}
}

// ended is called by the last of a round's fan-out writers: it starts the
// next round, if any Conn joined it, with writers counted by tracker.
func (r *Rounds) ended(tracker Tracker) {
	if f := r.take(tracker); f != nil {
		r.run(f)
	}
}

// take returns the next round's Fanout, or nil after noting that no round
// runs when no Conn is waiting for one.
func (r *Rounds) take(tracker Tracker) *Fanout {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.next) == 0 {
		r.running = false
		return nil
	}
	f := NewFanout(tracker)
	f.conns = append(f.conns, r.next...)
	clear(r.next)
	r.next = r.next[:0]
	return f
}
