package hub

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/protocol"
)

// RateTable holds one token bucket per key (a channel, a remote IP) for keys
// that come and go. It is sharded like the registries so that keys on
// different shards never contend, and it stays bounded: a bucket that has
// refilled to its burst is indistinguishable from a new one and is dropped
// by the next sweep of its shard, and a shard at its cap drops an arbitrary
// bucket to make room (which at worst hands that key a fresh burst).
//
// Allow on a key already in the table takes a shard read lock and the
// bucket's own lock, and allocates nothing.
type RateTable struct {
	maxPerShard int
	shards      [numShards]rateShard
}

type rateShard struct {
	mu        sync.RWMutex
	m         map[string]*rate.Limiter
	nextSweep time.Time
}

// sweepEvery is how often a shard that gains keys looks for full buckets.
const sweepEvery = 10 * time.Second

// NewRateTable returns a table that keeps at most about maxKeys buckets
// (at least one per shard).
func NewRateTable(maxKeys int) *RateTable {
	t := &RateTable{maxPerShard: max(1, maxKeys/numShards)}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*rate.Limiter)
	}
	return t
}

// Allow takes a token from key's bucket, which refills at r per second up
// to burst, and reports whether there was one. A key's first call creates
// its bucket with r and burst; later calls must pass the same values.
func (t *RateTable) Allow(key string, r rate.Limit, burst int) bool {
	return t.AllowAt(key, r, burst, time.Now())
}

// AllowAt is Allow at a given time.
func (t *RateTable) AllowAt(key string, r rate.Limit, burst int, now time.Time) bool {
	sh := &t.shards[shardOf(key)]
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
func (sh *rateShard) insert(key string, r rate.Limit, burst int, now time.Time, maxKeys int) *rate.Limiter {
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

// Len returns the number of buckets held.
func (t *RateTable) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// maxChannelLimiters bounds the per-channel publish buckets of a node.
const maxChannelLimiters = 1 << 18

// newLimiter returns a bucket for a rate option where a negative rate means
// no limit.
func newLimiter(r float64, burst int) *rate.Limiter {
	if r < 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(r), burst)
}

// errPublishRate and errReadRate tell the client which bucket ran dry; both
// carry 110 and are temporary.
var (
	errPublishRate        = protocol.NewError(protocol.CodeTooManyRequests, "publish rate exceeded")
	errReadRate           = protocol.NewError(protocol.CodeTooManyRequests, "presence and history rate exceeded")
	errChannelPublishRate = protocol.NewError(protocol.CodeTooManyRequests, "channel publish rate exceeded")
	errDataTooDeep        = protocol.NewError(protocol.CodeBadRequest, "data nested too deeply")
)

// checkRate applies the per-connection buckets for cmd's type, after the
// general command bucket. It returns the error to reply with, or nil. Runs
// on the reader goroutine, which owns the buckets; they are created on
// first use so that connections that never publish carry none.
func (c *Client) checkRate(cmd *protocol.Command) *protocol.Error {
	cfg := &c.hub.cfg
	switch cmd.Type {
	case protocol.TypePublish, protocol.TypeSend:
		if c.publishLimiter == nil {
			c.publishLimiter = newLimiter(cfg.PublishRate, cfg.PublishBurst)
		}
		if !c.publishLimiter.Allow() {
			c.hub.obs.RateLimited(LimitPublish)
			return errPublishRate
		}
	case protocol.TypePresence, protocol.TypePresenceStats, protocol.TypeHistory:
		if c.readLimiter == nil {
			c.readLimiter = newLimiter(cfg.ReadRate, cfg.ReadBurst)
		}
		if !c.readLimiter.Allow() {
			c.hub.obs.RateLimited(LimitRead)
			return errReadRate
		}
	}
	return nil
}

// allowChannelPublish applies the namespace's per-channel publish rate to
// a client publish. The server API is not limited: the backend is trusted.
func (h *Hub) allowChannelPublish(channel string, ns *Namespace) bool {
	if ns.PublishRate <= 0 {
		return true
	}
	return h.channelRates.Allow(channel, rate.Limit(ns.PublishRate), ns.publishBurst())
}
