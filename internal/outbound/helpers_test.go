package outbound

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// wire is a transport's write side that records every frame as its
// messages joined by "|" (the test Conns' separator). A frame written while
// a part of an earlier one is pending breaks the Writes rules: bad records
// the first such break.
type wire struct {
	mu      sync.Mutex
	frames  []string
	flushes int
	bad     string
	// hold, when set, is called at the start of Frame, outside mu: a write
	// that waits for a slow socket. tryHold is the same for TryFrame: a
	// write that takes long (a busy machine), not one that waits.
	hold, tryHold func()
	// fail, when set, is what every write returns.
	fail error
	// tryTakes is how much of each frame TryFrame writes, cycling; nil
	// takes it whole. The rest is pending until Flush.
	tryTakes []float64
	tries    int
	pending  string
}

func (w *wire) writes(try bool) Writes {
	ws := Writes{Frame: w.frame}
	if try {
		ws.TryFrame, ws.Flush = w.tryFrame, w.flush
	}
	return ws
}

func (w *wire) frame(parts [][]byte) error {
	if w.hold != nil {
		w.hold()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.checkNothingPending()
	w.frames = append(w.frames, join(parts))
	return nil
}

func (w *wire) tryFrame(parts [][]byte) (bool, error) {
	if w.tryHold != nil {
		w.tryHold()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return false, w.fail
	}
	w.checkNothingPending()
	f := join(parts)
	share := 1.0
	if len(w.tryTakes) > 0 {
		share = w.tryTakes[w.tries%len(w.tryTakes)]
	}
	w.tries++
	n := int(float64(len(f)) * share)
	w.pending = f[n:]
	w.frames = append(w.frames, f[:n])
	return w.pending == "", nil
}

func (w *wire) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	if w.pending != "" {
		w.frames[len(w.frames)-1] += w.pending
		w.pending = ""
	}
	return nil
}

func (w *wire) checkNothingPending() {
	if w.pending != "" && w.bad == "" {
		w.bad = "a frame was written before the pending one was flushed"
	}
}

// sent returns the frames written so far.
func (w *wire) sent() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.frames...)
}

func join(parts [][]byte) string {
	var b strings.Builder
	for _, p := range parts {
		b.Write(p)
	}
	return b.String()
}

// events records what a Conn reports.
type events struct {
	mu       sync.Mutex
	frames   []FrameStats
	drained  int
	failures []error
}

func (e *events) FrameWritten(st FrameStats) {
	e.mu.Lock()
	e.frames = append(e.frames, st)
	e.mu.Unlock()
}

func (e *events) Drained() {
	e.mu.Lock()
	e.drained++
	e.mu.Unlock()
}

func (e *events) WriteFailed(err error) {
	e.mu.Lock()
	e.failures = append(e.failures, err)
	e.mu.Unlock()
}

// tracker is a WaitGroup that also counts the goroutines it was told of.
type tracker struct {
	sync.WaitGroup
	started atomic.Int32
}

func (t *tracker) Add(delta int) {
	if delta > 0 {
		t.started.Add(int32(delta))
	}
	t.WaitGroup.Add(delta)
}

// newTestConn returns a Conn with the given bounds on a wire that writes
// with Frame only, its goroutines counted by a tracker.
func newTestConn(items, bytes int) (*Conn, *wire, *events) {
	c, w, e, _ := newTrackedConn(items, bytes, false)
	return c, w, e
}

func newTrackedConn(items, bytes int, try bool) (*Conn, *wire, *events, *tracker) {
	w, e, t := &wire{}, &events{}, &tracker{}
	c := &Conn{}
	c.Init(Config{Writes: w.writes(try), Events: e, MaxMessages: items, MaxBytes: bytes, Separator: []byte("|"), Tracker: t})
	return c, w, e, t
}

// playWriter makes the test the writer: it holds the writer's role, so no
// writer goroutine starts, and takes frames with takeOne.
func playWriter(c *Conn) {
	c.mu.Lock()
	c.writing = true
	c.mu.Unlock()
}

// takeOne plays one take of the writer and keeps the writer's role.
func takeOne(c *Conn) (batch []Message, finished, stop bool) {
	batch, _, _, finished, stop = c.take()
	if stop {
		playWriter(c)
	}
	return batch, finished, stop
}

// drain takes everything as the writer would, joining messages with "|".
func drain(c *Conn) string {
	var out []string
	for {
		batch, _, stop := takeOne(c)
		if stop {
			return strings.Join(out, "|")
		}
		for _, m := range batch {
			out = append(out, string(m.Bytes))
		}
	}
}

// depth returns the number of queued messages.
func depth(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// writing reports whether the writer's role is held.
func writing(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writing
}

var errBroken = errors.New("broken pipe")
