package nats

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// writerTable serializes this node's appends to each stream subject and
// remembers the subject's newest message after each, so that the next
// append from this node needs no read: only when another node appended in
// between does the compare-and-set fail and cost a read. Serializing
// locally also keeps this node's publishers from failing each other's
// compare-and-set.
type writerTable struct {
	seed   maphash.Seed
	gen    atomic.Uint64 // bumped to forget every cached head at once
	shards [64]writerShard
}

type writerShard struct {
	mu sync.Mutex
	m  map[string]*writer
}

// writer is one subject's append lock and cached head.
type writer struct {
	mu   sync.Mutex // held across an append
	key  string
	refs int // guarded by the shard's mutex
	// Guarded by mu.
	head *stored
	gen  uint64
}

// maxIdleWriters bounds the idle writers (and cached heads) kept per shard.
const maxIdleWriters = 256

func (t *writerTable) init() {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = make(map[string]*writer)
	}
}

func (t *writerTable) shard(key string) *writerShard {
	return &t.shards[maphash.String(t.seed, key)%uint64(len(t.shards))]
}

func (t *writerTable) acquire(key string) *writer {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.m[key]
	if w == nil {
		w = &writer{key: key}
		s.m[key] = w
	}
	w.refs++
	return w
}

func (t *writerTable) release(w *writer) {
	s := t.shard(w.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	w.refs--
	if w.refs == 0 && len(s.m) > maxIdleWriters {
		delete(s.m, w.key)
	}
}

// cached returns the head remembered by w (whose mu is held), nil when
// there is none or it was forgotten.
func (t *writerTable) cached(w *writer) *stored {
	if w.gen != t.gen.Load() {
		return nil
	}
	return w.head
}

// store remembers head (nil: nothing) for w, whose mu is held.
func (t *writerTable) store(w *writer, head *stored) {
	w.head, w.gen = head, t.gen.Load()
}

// forget drops every cached head: after a reconnect the server may have
// lost its store, and sequence numbers start over.
func (t *writerTable) forget() { t.gen.Add(1) }
