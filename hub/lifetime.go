package hub

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// The hub's lifetime. New gives the hub a context of its own, and the work
// the hub does derives from it: the background loops Run starts, resyncs,
// catch-ups, held join/leave flushes, budget sweeps, connect proxy calls
// and the broker calls of commands. What runs on goroutines the hub starts
// or on its timers, and connect proxy calls, is also counted. Shutdown
// cancels the context once it has told every client to go (work in flight
// ends, none starts), drains the clients, then waits for everything
// counted: once it returns, nothing the hub started runs. The one
// exception is a client's cleanup (cleanupContext): it is bounded by
// BrokerTimeout but not cancelled, because a client closed by the drain
// must still leave the broker's presence, or other nodes would list it
// until its entry expires.

// lifetime is the hub's context and the count of work started under it.
type lifetime struct {
	ctx    context.Context
	cancel context.CancelFunc
	// shards are children of ctx that the contexts of commands' broker
	// calls derive from (brokerContext). A cancellable context registers
	// with its parent under the parent's lock: one parent for every
	// command of every connection would be a node-wide lock.
	shards       [lifeShards]context.Context
	shardCancels [lifeShards]context.CancelFunc

	// mu orders counting new work against Shutdown's cancel, after which
	// nothing is counted: wg.Add never races wg.Wait.
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// lifeShards is the number of shards; a power of two.
const lifeShards = 16

func (l *lifetime) init() {
	l.ctx, l.cancel = context.WithCancel(context.Background())
	for i := range l.shards {
		l.shards[i], l.shardCancels[i] = context.WithCancel(l.ctx)
	}
}

// shard returns one of the shards, picked at random: cheap, lock-free
// and spread over the node's cores.
func (l *lifetime) shard() context.Context {
	return l.shards[rand.Uint32()&(lifeShards-1)]
}

// stop cancels the hub's context; from here on track refuses new work.
func (l *lifetime) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.cancel()
	for _, cancel := range l.shardCancels {
		cancel() // done with l.cancel already; this releases them
	}
}

// done is closed once Shutdown has begun.
func (l *lifetime) done() <-chan struct{} { return l.ctx.Done() }

// track counts a piece of work that is about to start, which must call
// untrack when it ends. It reports false, counting nothing, once Shutdown
// has begun: the work must then not start.
func (l *lifetime) track() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.wg.Add(1)
	return true
}

// untrack ends a piece of work track counted.
func (l *lifetime) untrack() { l.wg.Done() }

// wait waits for every piece of work counted.
func (l *lifetime) wait() { l.wg.Wait() }

// goTracked runs f on a goroutine Shutdown waits for. It reports false,
// running nothing, once Shutdown has begun.
func (h *Hub) goTracked(f func()) bool {
	if !h.life.track() {
		return false
	}
	go func() {
		defer h.life.untrack()
		f()
	}()
	return true
}

// brokerContext bounds one command's or background action's broker work:
// BrokerTimeout, or Shutdown, whichever comes first.
func (h *Hub) brokerContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(h.life.shard(), h.cfg.BrokerTimeout)
}

// cleanupContext bounds the broker work of taking a client out of the
// cluster's view (its subscriptions, its presence entries) and of this
// node's goodbye: BrokerTimeout, and Shutdown does not cut it short.
func (h *Hub) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(h.life.ctx), h.cfg.BrokerTimeout)
}

// sleep waits d, or until Shutdown begins; it reports whether d passed.
func (h *Hub) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.life.done():
		return false
	}
}
