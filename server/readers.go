package server

import (
	"context"
	"sync"
)

// readerCount counts the readers of open WebSocket connections, which the
// server starts and Shutdown waits for. Unlike a sync.WaitGroup it may
// count a reader that starts while Shutdown already waits: a connection
// whose handshake was under way when the drain began still gets one.
type readerCount struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero, while someone waits
}

func (r *readerCount) add() {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
}

func (r *readerCount) done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n--
	if r.n == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

// wait returns once no reader runs, or ctx's error when ctx ends first.
func (r *readerCount) wait(ctx context.Context) error {
	r.mu.Lock()
	for r.n > 0 {
		if r.idle == nil {
			r.idle = make(chan struct{})
		}
		idle := r.idle
		r.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.mu.Lock()
	}
	r.mu.Unlock()
	return nil
}
