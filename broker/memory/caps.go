package memory

import "math"

// Usage is what a broker's streams hold, as its caps count it.
type Usage struct {
	// RetainedBytes is the publications' data plus their bookkeeping.
	RetainedBytes int64
	// Streams counts the channels' and inboxes' streams.
	Streams int64
	// Evicted counts the streams evicted to stay under the caps since
	// the broker started.
	Evicted int64
}

// Usage reports what the streams hold now.
func (b *Broker) Usage() Usage {
	return Usage{
		RetainedBytes: b.use.bytes.Load(),
		Streams:       b.use.streams.Load(),
		Evicted:       b.evicted.Load(),
	}
}

// overCaps reports whether the streams hold more than the options allow.
func (b *Broker) overCaps() bool {
	o := &b.opts
	return o.MaxRetainedBytes >= 0 && b.use.bytes.Load() > o.MaxRetainedBytes ||
		o.MaxStreams >= 0 && b.use.streams.Load() > o.MaxStreams
}

// enforceCaps evicts streams, the least recently appended to first, until
// the broker is under its caps again. It runs after an operation that may
// have added to them, holding no lock: it locks one shard at a time.
// Concurrent callers may together evict a stream or two more than needed.
func (b *Broker) enforceCaps() {
	for b.overCaps() {
		if !b.evictOldest() {
			return
		}
	}
}

// evictOldest evicts the stream appended to least recently, as far as the
// shards' unlocked view of their oldest streams tells, and reports whether
// there was one.
func (b *Broker) evictOldest() bool {
	var best *streamSet
	var bestShard *shard
	bestAt := int64(math.MaxInt64)
	for i := range b.shards {
		s := &b.shards[i]
		for _, ss := range []*streamSet{&s.channels, &s.inboxes} {
			if at := ss.oldestAt.Load(); at < bestAt {
				best, bestShard, bestAt = ss, s, at
			}
		}
	}
	if best == nil {
		return false
	}
	bestShard.mu.Lock()
	evicted := best.evictOldest()
	bestShard.mu.Unlock()
	if evicted {
		b.evicted.Add(1)
	}
	// A set emptied meanwhile: look again, unless every set is empty.
	return evicted || b.use.streams.Load() > 0
}
