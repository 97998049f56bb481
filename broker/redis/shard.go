package redis

import "github.com/redis/go-redis/v9"

// shard is one Redis server of client-side sharding, or the whole Redis
// Cluster behind one ClusterClient.
type shard struct {
	addr   string
	client redis.UniversalClient
	// seed is the shard's rendezvous hashing identity, derived from its
	// address so that every node agrees on it.
	seed uint64
	// sub carries this shard's pub/sub subscriptions; nil in Cluster mode,
	// where subscriptions go through Broker.cluster.
	sub *subConn
}

// shardFor picks the shard that owns name by rendezvous (highest random
// weight) hashing: every node computes the same owner from the same
// addresses, and adding a shard moves only the names the new one wins.
func (b *Broker) shardFor(name string) *shard {
	if len(b.shards) == 1 {
		return b.shards[0]
	}
	h := fnv64(name)
	best, bestW := b.shards[0], uint64(0)
	for i, s := range b.shards {
		if w := mix64(h ^ s.seed); i == 0 || w > bestW {
			best, bestW = s, w
		}
	}
	return best
}

// fnv64 is FNV-1a, stable across processes and versions (unlike maphash).
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is splitmix64's finalizer: FNV alone mixes its last bytes poorly,
// which would skew rendezvous weights of similar names.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
