package brokertest

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/heraldhq/herald/broker"
)

// Recorder is a broker.Handler that remembers every delivery, standing in
// for the hub. Its wait methods block until enough has arrived or a timeout
// passes, because remote brokers deliver asynchronously. It is safe for
// concurrent use.
type Recorder struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every delivery
	pubs     map[string][]Delivery
	joins    map[string][]broker.ClientInfo
	leaves   map[string][]broker.ClientInfo
	directs  map[string][]Delivery
	controls [][]byte
	inFlight map[string]bool
	overlap  bool
	// reconnects counts HandleReconnect calls.
	reconnects int
}

// Delivery is one recorded publication and the stream position delivered
// with it.
type Delivery struct {
	Pub *broker.Publication
	Pos broker.StreamPosition
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		changed:  make(chan struct{}),
		pubs:     make(map[string][]Delivery),
		joins:    make(map[string][]broker.ClientInfo),
		leaves:   make(map[string][]broker.ClientInfo),
		directs:  make(map[string][]Delivery),
		inFlight: make(map[string]bool),
	}
}

var _ broker.Handler = (*Recorder)(nil)

// record runs fn under the lock and wakes waiters.
func (r *Recorder) record(fn func()) {
	r.mu.Lock()
	fn()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// HandlePublication records a publication. It yields between marking the
// channel busy and recording, so that a broker calling it concurrently for
// one channel is caught (see Overlapped).
func (r *Recorder) HandlePublication(channel string, pub *broker.Publication, pos broker.StreamPosition) {
	r.mu.Lock()
	if r.inFlight[channel] {
		r.overlap = true
	}
	r.inFlight[channel] = true
	r.mu.Unlock()
	runtime.Gosched()
	r.record(func() {
		r.pubs[channel] = append(r.pubs[channel], Delivery{pub, pos})
		r.inFlight[channel] = false
	})
}

// HandleJoin records a join.
func (r *Recorder) HandleJoin(channel string, info *broker.ClientInfo) {
	r.record(func() { r.joins[channel] = append(r.joins[channel], *info) })
}

// HandleLeave records a leave.
func (r *Recorder) HandleLeave(channel string, info *broker.ClientInfo) {
	r.record(func() { r.leaves[channel] = append(r.leaves[channel], *info) })
}

// HandleDirect records a direct message.
func (r *Recorder) HandleDirect(user string, pub *broker.Publication, pos broker.StreamPosition) {
	r.record(func() { r.directs[user] = append(r.directs[user], Delivery{pub, pos}) })
}

// HandleControl records a copy of a control message: the broker may reuse
// its buffer.
func (r *Recorder) HandleControl(data []byte) {
	r.record(func() { r.controls = append(r.controls, bytes.Clone(data)) })
}

// HandleReconnect counts reconnects.
func (r *Recorder) HandleReconnect() {
	r.record(func() { r.reconnects++ })
}

// Reconnects waits up to d for at least n reconnects and reports how many
// there were.
func (r *Recorder) Reconnects(n int, d time.Duration) int {
	r.waitFor(d, func() bool { return r.reconnects >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reconnects
}

// waitFor blocks until done (called under the lock) holds or d passes, and
// reports which.
func (r *Recorder) waitFor(d time.Duration, done func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok, changed := done(), r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			return done()
		}
	}
}

// Publications waits up to d for at least n publications on channel and
// returns every one recorded so far, in delivery order. The error says how
// many arrived when fewer than n did.
func (r *Recorder) Publications(channel string, n int, d time.Duration) ([]Delivery, error) {
	ok := r.waitFor(d, func() bool { return len(r.pubs[channel]) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return clone(r.pubs[channel], ok, "publications on "+channel, n)
}

// Directs waits up to d for at least n direct messages to user, as
// Publications.
func (r *Recorder) Directs(user string, n int, d time.Duration) ([]Delivery, error) {
	ok := r.waitFor(d, func() bool { return len(r.directs[user]) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return clone(r.directs[user], ok, "direct messages to "+user, n)
}

// Joins waits up to d for at least n joins on channel, as Publications.
func (r *Recorder) Joins(channel string, n int, d time.Duration) ([]broker.ClientInfo, error) {
	ok := r.waitFor(d, func() bool { return len(r.joins[channel]) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return clone(r.joins[channel], ok, "joins on "+channel, n)
}

// Leaves waits up to d for at least n leaves on channel, as Publications.
func (r *Recorder) Leaves(channel string, n int, d time.Duration) ([]broker.ClientInfo, error) {
	ok := r.waitFor(d, func() bool { return len(r.leaves[channel]) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return clone(r.leaves[channel], ok, "leaves on "+channel, n)
}

// Control waits up to d for a control message equal to data. Control
// messages reach every node of a cluster, so with a shared server other
// tests' messages arrive too; waiting for a specific one ignores them.
func (r *Recorder) Control(data []byte, d time.Duration) error {
	ok := r.waitFor(d, func() bool {
		for _, c := range r.controls {
			if bytes.Equal(c, data) {
				return true
			}
		}
		return false
	})
	if !ok {
		return fmt.Errorf("control message %q not delivered", data)
	}
	return nil
}

// Overlapped reports whether two HandlePublication calls for one channel
// ever ran at the same time, which the Handler contract forbids.
func (r *Recorder) Overlapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overlap
}

func clone[T any](s []T, ok bool, what string, want int) ([]T, error) {
	out := append([]T(nil), s...)
	if !ok {
		return out, fmt.Errorf("%d %s, want %d", len(out), what, want)
	}
	return out, nil
}
