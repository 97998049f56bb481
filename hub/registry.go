package hub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

// numShards splits each registry so that clients on different channels or
// users never contend on one lock.
const numShards = 64

var shardSeed = maphash.MakeSeed()

func shardOf(key string) int {
	return int(maphash.String(shardSeed, key) % numShards)
}

// clientRegistry holds every client of the node by id.
type clientRegistry struct {
	shards [numShards]struct {
		mu sync.RWMutex
		m  map[string]*Client
	}
	n atomic.Int64
}

func (r *clientRegistry) init() {
	for i := range r.shards {
		r.shards[i].m = make(map[string]*Client)
	}
}

func (r *clientRegistry) add(c *Client) {
	s := &r.shards[shardOf(c.id)]
	s.mu.Lock()
	s.m[c.id] = c
	s.mu.Unlock()
	r.n.Add(1)
}

func (r *clientRegistry) remove(c *Client) {
	s := &r.shards[shardOf(c.id)]
	s.mu.Lock()
	if _, ok := s.m[c.id]; ok {
		delete(s.m, c.id)
		r.n.Add(-1)
	}
	s.mu.Unlock()
}

func (r *clientRegistry) count() int { return int(r.n.Load()) }

// all returns a snapshot of every client.
func (r *clientRegistry) all() []*Client {
	out := make([]*Client, 0, r.count())
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		for _, c := range s.m {
			out = append(out, c)
		}
		s.mu.RUnlock()
	}
	return out
}

// userRegistry maps user ids to their connected clients.
type userRegistry struct {
	shards [numShards]struct {
		mu sync.RWMutex
		m  map[string]map[*Client]struct{}
	}
	n atomic.Int64
}

func (r *userRegistry) init() {
	for i := range r.shards {
		r.shards[i].m = make(map[string]map[*Client]struct{})
	}
}

func (r *userRegistry) add(user string, c *Client) {
	s := &r.shards[shardOf(user)]
	s.mu.Lock()
	set := s.m[user]
	if set == nil {
		set = make(map[*Client]struct{}, 1)
		s.m[user] = set
		r.n.Add(1)
	}
	set[c] = struct{}{}
	s.mu.Unlock()
}

func (r *userRegistry) remove(user string, c *Client) {
	s := &r.shards[shardOf(user)]
	s.mu.Lock()
	if set := s.m[user]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(s.m, user)
			r.n.Add(-1)
		}
	}
	s.mu.Unlock()
}

// clientsOf returns a snapshot of a user's clients.
func (r *userRegistry) clientsOf(user string) []*Client {
	s := &r.shards[shardOf(user)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := s.m[user]
	out := make([]*Client, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

// forEach calls fn for each of a user's clients while holding the shard's
// read lock; fn must not block.
func (r *userRegistry) forEach(user string, fn func(*Client)) {
	s := &r.shards[shardOf(user)]
	s.mu.RLock()
	for c := range s.m[user] {
		fn(c)
	}
	s.mu.RUnlock()
}

// countOf returns how many clients the user has on this node.
func (r *userRegistry) countOf(user string) int {
	s := &r.shards[shardOf(user)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m[user])
}

func (r *userRegistry) count() int { return int(r.n.Load()) }

// channelRegistry maps channel names to this node's subscriptions.
type channelRegistry struct {
	shards [numShards]struct {
		mu sync.RWMutex
		m  map[string]*channelSubs
	}
	n    atomic.Int64 // channels
	subs atomic.Int64 // subscriptions
}

// channelSubs are one channel's subscriptions on this node, and the rounds
// its publications' fan-outs write in (outbound.Rounds): consecutive
// publications reach a subscriber in one frame when they come faster than
// the fan-out writes.
//
// Its first two subscriptions sit in it (few) and a map is made for a
// third: many channels have one or two subscribers here (a user's own
// channel, on one or two devices), a map holding one entry costs about
// 100 bytes more, and two pointers fit the 64-byte size class the struct
// takes anyway.
type channelSubs struct {
	few    [2]*subscription          // while many is nil: filled from the front
	many   map[*Client]*subscription // all of them, once there were three
	rounds outbound.Rounds
}

// get returns c's subscription, nil if none.
func (set *channelSubs) get(c *Client) *subscription {
	if set.many != nil {
		return set.many[c]
	}
	for _, s := range set.few {
		if s != nil && s.client == c {
			return s
		}
	}
	return nil
}

// put adds s, in place of its client's earlier one.
func (set *channelSubs) put(s *subscription) {
	if set.many != nil {
		set.many[s.client] = s
		return
	}
	for i, old := range set.few {
		if old == nil || old.client == s.client {
			set.few[i] = s
			return
		}
	}
	set.many = make(map[*Client]*subscription, len(set.few)+1)
	for _, old := range set.few {
		set.many[old.client] = old
	}
	set.many[s.client] = s
	set.few = [2]*subscription{}
}

// remove removes c's subscription.
func (set *channelSubs) remove(c *Client) {
	if set.many != nil {
		delete(set.many, c)
		return
	}
	switch {
	case set.few[1] != nil && set.few[1].client == c:
		set.few[1] = nil
	case set.few[0] != nil && set.few[0].client == c:
		set.few = [2]*subscription{set.few[1], nil}
	}
}

// len returns how many subscriptions the channel has.
func (set *channelSubs) len() int {
	if set.many != nil {
		return len(set.many)
	}
	n := 0
	for _, s := range set.few {
		if s != nil {
			n++
		}
	}
	return n
}

// all calls f for each subscription.
func (set *channelSubs) all(f func(*subscription)) {
	if set.many != nil {
		for _, s := range set.many {
			f(s)
		}
		return
	}
	for _, s := range set.few {
		if s == nil {
			return
		}
		f(s)
	}
}

func (r *channelRegistry) init() {
	for i := range r.shards {
		r.shards[i].m = make(map[string]*channelSubs)
	}
}

// add registers s and reports whether it is the channel's first subscription
// on this node.
func (r *channelRegistry) add(s *subscription) (first bool) {
	sh := &r.shards[shardOf(s.channel)]
	sh.mu.Lock()
	set := sh.m[s.channel]
	if set == nil {
		set = &channelSubs{}
		sh.m[s.channel] = set
		r.n.Add(1)
		first = true
	}
	if set.get(s.client) == nil {
		r.subs.Add(1)
	}
	set.put(s)
	sh.mu.Unlock()
	return first
}

// remove unregisters s and reports whether the channel has no subscription
// left on this node.
func (r *channelRegistry) remove(s *subscription) (last bool) {
	sh := &r.shards[shardOf(s.channel)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.m[s.channel]
	if set == nil || set.get(s.client) != s {
		return false
	}
	set.remove(s.client)
	r.subs.Add(-1)
	if set.len() == 0 {
		delete(sh.m, s.channel)
		r.n.Add(-1)
		return true
	}
	return false
}

// counts returns every channel with its number of local subscribers.
func (r *channelRegistry) counts(match func(string) bool) map[string]int {
	out := make(map[string]int)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for ch, set := range sh.m {
			if match == nil || match(ch) {
				out[ch] = set.len()
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// forEach hands a push to each of the channel's local subscribers, holding
// the shard's read lock; deliver must not block. The push is encoded at most
// once per encoding, and only for encodings some subscriber speaks: every
// subscriber of one encoding shares the same bytes. It returns how many
// subscribers of each encoding deliver was called for, so that statistics
// cost one add per push rather than one per subscriber, and the channel's
// fan-out rounds (nil when it has no subscriber here).
func (r *channelRegistry) forEach(channel string, encode func(protocol.Encoding) []byte, deliver func(*subscription, *outbound.Shared)) (n [protocol.NumEncodings]int, rounds *outbound.Rounds) {
	sh := &r.shards[shardOf(channel)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	set := sh.m[channel]
	if set == nil {
		return n, nil
	}
	var msgs [protocol.NumEncodings]*outbound.Shared
	set.all(func(s *subscription) {
		enc := s.client.enc
		if msgs[enc] == nil {
			msgs[enc] = outbound.NewShared(encode(enc))
		}
		deliver(s, msgs[enc])
		n[enc]++
	})
	return n, &set.rounds
}

// subscriptionsOf returns a snapshot of the channel's local subscriptions.
func (r *channelRegistry) subscriptionsOf(channel string) []*subscription {
	sh := &r.shards[shardOf(channel)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	set := sh.m[channel]
	if set == nil {
		return nil
	}
	out := make([]*subscription, 0, set.len())
	set.all(func(s *subscription) { out = append(out, s) })
	return out
}
