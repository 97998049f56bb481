// Package ratelimit holds token buckets for keys that come and go (a
// channel, a user, a remote address) in a table that stays bounded however
// many keys appear. The hub's per-channel rates and quotas and the
// server's per-address connect rate use it.
package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Table holds one token bucket per key. It is sharded so that keys on
// different shards never contend, and it stays bounded: a bucket that has
// refilled to its burst is indistinguishable from a new one and is dropped
// by the next sweep of its shard, and a shard at its cap drops an arbitrary
// bucket to make room (which at worst hands that key a fresh burst).
//
// Allow on a key already in the table takes a shard read lock and the
// bucket's own lock, and allocates nothing. All methods may be called
// concurrently.
type Table struct {
	maxPerShard int
	shards      [numShards]shard
}

// numShards splits the table as the hub splits its registries.
const numShards = 64

var shardSeed = maphash.MakeSeed()

type shard struct {
	mu        sync.RWMutex
	m         map[string]*rate.Limiter
	nextSweep time.Time
}

// sweepEvery is how often a shard that gains keys looks for full buckets.
const sweepEvery = 10 * time.Second

// NewTable returns a table that keeps at most about maxKeys buckets (at
// least one per shard).
func NewTable(maxKeys int) *Table {
	t := &Table{maxPerShard: max(1, maxKeys/numShards)}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*rate.Limiter)
	}
	return t
}

func (t *Table) shardOf(key string) *shard {
	return &t.shards[maphash.String(shardSeed, key)%numShards]
}

// Allow takes a token from key's bucket, which refills at r per second up
// to burst, and reports whether there was one. A key's first call creates
// its bucket with r and burst; later calls must pass the same values.
func (t *Table) Allow(key string, r rate.Limit, burst int) bool {
	return t.AllowAt(key, r, burst, time.Now())
}

// AllowAt is Allow at a given time.
func (t *Table) AllowAt(key string, r rate.Limit, burst int, now time.Time) bool {
	sh := t.shardOf(key)
	sh.mu.RLock()
	lim := sh.m[key]
	sh.mu.RUnlock()
	if lim == nil {
		lim = sh.insert(key, r, burst, now, t.maxPerShard)
	}
	return lim.AllowN(now, 1)
}

// insert returns key's bucket, creating it. Only new keys get here, so the
// sweep's cost is paid by growth, never by steady traffic.
func (sh *shard) insert(key string, r rate.Limit, burst int, now time.Time, maxKeys int) *rate.Limiter {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if lim := sh.m[key]; lim != nil {
		return lim
	}
	if now.After(sh.nextSweep) || len(sh.m) >= maxKeys {
		sh.nextSweep = now.Add(sweepEvery)
		for k, lim := range sh.m {
			if lim.TokensAt(now) >= float64(lim.Burst()) {
				delete(sh.m, k)
			}
		}
	}
	for k := range sh.m {
		if len(sh.m) < maxKeys {
			break
		}
		delete(sh.m, k)
	}
	lim := rate.NewLimiter(r, burst)
	sh.m[key] = lim
	return lim
}

// HasToken reports whether key's bucket holds a token at now, without
// taking one; a key without a bucket has a full one.
func (t *Table) HasToken(key string, now time.Time) bool {
	sh := t.shardOf(key)
	sh.mu.RLock()
	lim := sh.m[key]
	sh.mu.RUnlock()
	return lim == nil || lim.TokensAt(now) >= 1
}

// Forget drops key's bucket: its next use starts full.
func (t *Table) Forget(key string) {
	sh := t.shardOf(key)
	sh.mu.RLock()
	_, ok := sh.m[key]
	sh.mu.RUnlock()
	if ok {
		sh.mu.Lock()
		delete(sh.m, key)
		sh.mu.Unlock()
	}
}

// Len returns the number of buckets held.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
