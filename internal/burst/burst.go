// Package burst runs a connection's bursts of work (reading and handling
// the messages that have arrived) on goroutines that outlive one burst.
//
// A reader that waits for its connection's next bytes at the minimum stack
// (a fresh goroutine whose only call is the wait) must hand the burst that
// follows to a goroutine able to do the work: starting a goroutine and
// growing a fresh stack to the depth of the work (a token check, a
// publish) costs more than the burst itself when a client sends one
// message at a time. A Pool keeps the goroutines of recent bursts for a
// second, with their grown stacks, for the next ones; a quiet server keeps
// none.
package burst

import (
	"sync"
	"time"
)

// Job is one burst of work.
type Job interface{ RunBurst() }

// idle is how long a goroutine waits for another burst before it exits:
// long enough to serve a busy connection's next message, short enough that
// a quiet server keeps no goroutines (and their stacks) around.
const idle = time.Second

// Pool runs bursts. The zero value is not usable: use NewPool.
type Pool struct {
	jobs      chan Job
	quit      chan struct{}
	closeOnce sync.Once
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{jobs: make(chan Job), quit: make(chan struct{})}
}

// Run hands job to an idle goroutine of the pool, or starts one. It never
// waits.
func (p *Pool) Run(job Job) {
	select {
	case p.jobs <- job:
	default:
		go p.work(job)
	}
}

func (p *Pool) work(job Job) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		job.RunBurst()
		t.Reset(idle)
		select {
		case job = <-p.jobs:
		case <-t.C:
			return
		case <-p.quit:
			return
		}
	}
}

// Close makes the goroutines exit once they finish their burst, and at
// once when idle; bursts run after it get a goroutine each. Safe to call
// more than once.
func (p *Pool) Close() {
	p.closeOnce.Do(func() { close(p.quit) })
}
