package outbound

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Fanout collects the Conns whose writer's role a delivery loop claimed
// (PushLive), so that their frames are written after the loop, with its
// locks released, by few goroutines: a goroutine start and exit per
// subscriber, and the scheduling between, cost as much as the write
// itself. A channel's fan-outs start through its Rounds, so that one
// publication's writers do not write while the next is being pushed.
type Fanout struct {
	conns   []*Conn
	tracker Tracker
	running atomic.Int32 // chunks still writing
	// rounds, when not nil, is told when the last chunk ends (Rounds).
	rounds *Rounds
}

var fanoutPool = sync.Pool{New: func() any { return new(Fanout) }}

// fanoutChunk is the least number of Conns worth a goroutine of its own.
const fanoutChunk = 256

// NewFanout returns an empty Fanout from a pool; Start hands it back.
// tracker counts the goroutines Start starts (nil: none).
func NewFanout(tracker Tracker) *Fanout {
	f := fanoutPool.Get().(*Fanout)
	f.tracker = tracker
	return f
}

// Add records that c needs a writer: the caller claimed c's writer's role.
func (f *Fanout) Add(c *Conn) { f.conns = append(f.conns, c) }

// Start writes to the collected Conns: from up to GOMAXPROCS goroutines
// for those whose transport can write without waiting (TryFrame), from a
// writer goroutine each for the others. It hands f back to the pool.
func (f *Fanout) Start() { f.start() }

// start is Start, reporting whether it started fan-out writers (which
// end f's round) rather than only writer goroutines of the Conns'.
func (f *Fanout) start() bool {
	tries := f.conns[:0]
	for _, c := range f.conns {
		if c.w.TryFrame != nil {
			tries = append(tries, c)
		} else {
			c.StartWriter()
		}
	}
	if len(tries) == 0 {
		f.release()
		return false
	}
	chunks := min(runtime.GOMAXPROCS(0), (len(tries)+fanoutChunk-1)/fanoutChunk)
	size := (len(tries) + chunks - 1) / chunks
	f.running.Store(int32(chunks))
	for len(tries) > 0 {
		n := min(size, len(tries))
		if f.tracker != nil {
			f.tracker.Add(1)
		}
		go f.write(tries[:n])
		tries = tries[n:]
	}
	return true
}

// write writes to conns without waiting; a Conn whose socket is full gets
// a writer goroutine for the rest. The last chunk to finish releases f and
// ends its round.
func (f *Fanout) write(conns []*Conn) {
	tracker := f.tracker
	for _, c := range conns {
		if c.writeFrames(-1, true) {
			c.StartWriter()
		}
	}
	if f.running.Add(-1) == 0 {
		r := f.rounds
		f.release()
		if r != nil {
			r.ended(tracker)
		}
	}
	if tracker != nil {
		tracker.Done()
	}
}

// release clears f and returns it to the pool.
func (f *Fanout) release() {
	clear(f.conns)
	if cap(f.conns) > 1<<16 {
		f.conns = nil
	}
	f.conns = f.conns[:0]
	f.tracker, f.rounds = nil, nil
	fanoutPool.Put(f)
}
