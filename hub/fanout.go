package hub

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// TryWriter is implemented by a Transport that can write a frame without
// waiting for the socket. The hub then writes a publication's frames to its
// subscribers from a few goroutines, where it would otherwise start a
// writer goroutine per subscriber (a goroutine start and exit, and the
// scheduling between, cost as much as the write itself), and starts a
// writer only for a connection whose socket buffer is full.
type TryWriter interface {
	// TryWriteFrame writes parts as one frame as far as the socket takes
	// it without waiting. It reports done when all of it was written;
	// otherwise the transport keeps the rest, and Flush must be called
	// before the connection's next frame.
	TryWriteFrame(parts [][]byte) (done bool, err error)
	// Flush writes what TryWriteFrame left, waiting for the socket as
	// WriteFrame does.
	Flush() error
}

// fanout collects the clients whose writer role a delivery loop took, so
// that their frames are written after the loop, by few goroutines.
type fanout struct {
	clients []*Client
	running atomic.Int32 // chunks still writing
}

var fanoutPool = sync.Pool{New: func() any { return new(fanout) }}

// fanoutChunk is the least number of clients worth a goroutine of its own.
const fanoutChunk = 256

// add records that c needs a writer.
func (f *fanout) add(c *Client) { f.clients = append(f.clients, c) }

// start writes to the collected clients: from up to GOMAXPROCS goroutines
// for those whose transport can write without blocking, from a writer
// goroutine each for the others. It hands f back to the pool.
func (f *fanout) start() {
	tries := f.clients[:0]
	for _, c := range f.clients {
		if c.tw != nil {
			tries = append(tries, c)
		} else {
			go c.queue.flush()
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
		go f.write(tries[:n])
		tries = tries[n:]
	}
}

// write writes to clients without blocking; a client whose socket is full
// gets a writer goroutine for the rest. The last chunk to finish releases f.
func (f *fanout) write(clients []*Client) {
	for _, c := range clients {
		if c.writeFrames(-1, true) {
			go c.queue.flush()
		}
	}
	if f.running.Add(-1) == 0 {
		f.release()
	}
}

// release clears f and returns it to the pool.
func (f *fanout) release() {
	clear(f.clients)
	if cap(f.clients) > 1<<16 {
		f.clients = nil
	}
	f.clients = f.clients[:0]
	fanoutPool.Put(f)
}
