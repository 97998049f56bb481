package brokertest

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/heraldhq/herald/broker"
)

// Recorder is a broker.Handler that remembers every delivery, for tests.
// Its methods are safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	cond     *sync.Cond
	pubs     map[string][]Delivery
	joins    map[string][]broker.ClientInfo
	leaves   map[string][]broker.ClientInfo
	directs  map[string][]Delivery
	controls [][]byte
	// inFlight detects concurrent HandlePublication calls for one channel.
	inFlight map[string]bool
	overlap  bool
}

// Delivery is one recorded publication with its stream position.
type Delivery struct {
	Pub *broker.Publication
	Pos broker.StreamPosition
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	r := &Recorder{
		pubs: map[string][]Delivery{}, joins: map[string][]broker.ClientInfo{},
		leaves: map[string][]broker.ClientInfo{}, directs: map[string][]Delivery{},
		inFlight: map[string]bool{},
	}
	r.cond = sync.NewCond(&r.mu)
	return r
}

var _ broker.Handler = (*Recorder)(nil)

// HandlePublication records a publication.
func (r *Recorder) HandlePublication(channel string, pub *broker.Publication, pos broker.StreamPosition) {
	r.mu.Lock()
	if r.inFlight[channel] {
		r.overlap = true
	}
	r.inFlight[channel] = true
	r.mu.Unlock()
	// Outside the lock, a second concurrent call would see inFlight set.
	runtime.Gosched()
	r.mu.Lock()
	r.pubs[channel] = append(r.pubs[channel], Delivery{pub, pos})
	r.inFlight[channel] = false
	r.cond.Broadcast()
	r.mu.Unlock()
}

// HandleJoin records a join.
func (r *Recorder) HandleJoin(channel string, info *broker.ClientInfo) {
	r.mu.Lock()
	r.joins[channel] = append(r.joins[channel], *info)
	r.cond.Broadcast()
	r.mu.Unlock()
}

// HandleLeave records a leave.
func (r *Recorder) HandleLeave(channel string, info *broker.ClientInfo) {
	r.mu.Lock()
	r.leaves[channel] = append(r.leaves[channel], *info)
	r.cond.Broadcast()
	r.mu.Unlock()
}

// HandleDirect records a direct message.
func (r *Recorder) HandleDirect(user string, pub *broker.Publication, pos broker.StreamPosition) {
	r.mu.Lock()
	r.directs[user] = append(r.directs[user], Delivery{pub, pos})
	r.cond.Broadcast()
	r.mu.Unlock()
}

// HandleControl records a control message.
func (r *Recorder) HandleControl(data []byte) {
	r.mu.Lock()
	r.controls = append(r.controls, append([]byte(nil), data...))
	r.cond.Broadcast()
	r.mu.Unlock()
}

// wait blocks until cond holds or d passes, reporting which.
func (r *Recorder) wait(d time.Duration, cond func() bool) bool {
	timer := time.AfterFunc(d, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		r.cond.Wait()
	}
	return true
}

// Publications waits up to d for at least n publications on channel and
// returns all recorded so far.
func (r *Recorder) Publications(channel string, n int, d time.Duration) ([]Delivery, error) {
	ok := r.wait(d, func() bool { return len(r.pubs[channel]) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Delivery(nil), r.pubs[channel]...)
	if !ok {
		return out, fmt.Errorf("%d publications on %s, want %d", len(out), channel, n)
	}
	return out, nil
}

// Directs waits for at least n direct messages to user.
func (r *Recorder) Directs(user string, n int, d time.Duration) ([]Delivery, error) {
	ok := r.wait(d, func() bool { return len(r.directs[user]) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Delivery(nil), r.directs[user]...)
	if !ok {
		return out, fmt.Errorf("%d direct messages to %s, want %d", len(out), user, n)
	}
	return out, nil
}

// Presence waits for at least n joins and m leaves on channel.
func (r *Recorder) Presence(channel string, joins, leaves int, d time.Duration) ([]broker.ClientInfo, []broker.ClientInfo, error) {
	ok := r.wait(d, func() bool { return len(r.joins[channel]) >= joins && len(r.leaves[channel]) >= leaves })
	r.mu.Lock()
	defer r.mu.Unlock()
	j, l := append([]broker.ClientInfo(nil), r.joins[channel]...), append([]broker.ClientInfo(nil), r.leaves[channel]...)
	if !ok {
		return j, l, fmt.Errorf("%d joins and %d leaves on %s, want %d and %d", len(j), len(l), channel, joins, leaves)
	}
	return j, l, nil
}

// Controls waits for at least n control messages.
func (r *Recorder) Controls(n int, d time.Duration) ([][]byte, error) {
	ok := r.wait(d, func() bool { return len(r.controls) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([][]byte(nil), r.controls...)
	if !ok {
		return out, fmt.Errorf("%d control messages, want %d", len(out), n)
	}
	return out, nil
}

// Overlapped reports whether two deliveries for one channel ever ran at once.
func (r *Recorder) Overlapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overlap
}
