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
// itself.
type Fanout struct {
	conns   []*Conn
	tracker Tracker
	running atomic.Int32 // chunks still writing
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
func (f *Fanout) Start() {
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
		return
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
}

// write writes to conns without waiting; a Conn whose socket is full gets
// a writer goroutine for the rest. The last chunk to finish releases f.
func (f *Fanout) write(conns []*Conn) {
	tracker := f.tracker
	for _, c := range conns {
		if c.writeFrames(-1, true) {
			c.StartWriter()
		}
	}
	if f.running.Add(-1) == 0 {
		f.release()
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
	f.tracker = nil
	fanoutPool.Put(f)
}
