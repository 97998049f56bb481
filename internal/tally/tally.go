// Package tally counts running goroutines so that their owner can wait for
// them when it shuts down.
package tally

import (
	"context"
	"sync"
)

// Tally counts goroutines that are running: Add(1) before one starts, Done
// when it ends. Unlike a sync.WaitGroup it may count a goroutine that starts
// while Wait already waits (a connection's writer that must still send the
// close frame of a drain, a reader whose handshake was under way), so an
// owner can wait for what it started without first stopping every source of
// new goroutines. The zero value is ready to use.
type Tally struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero, while someone waits
}

// Add adds delta, which may be negative, to the count.
func (t *Tally) Add(delta int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n += delta
	if t.n < 0 {
		panic("tally: negative count")
	}
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// Done ends one goroutine counted by Add.
func (t *Tally) Done() { t.Add(-1) }

// Wait returns once the count is zero, or ctx's error when ctx ends first.
func (t *Tally) Wait(ctx context.Context) error {
	t.mu.Lock()
	for t.n > 0 {
		if t.idle == nil {
			t.idle = make(chan struct{})
		}
		idle := t.idle
		t.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
		t.mu.Lock()
	}
	t.mu.Unlock()
	return nil
}
