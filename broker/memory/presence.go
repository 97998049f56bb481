package memory

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/broker"
)

// presenceSet is one shard's presence entries: channel → client → entry.
type presenceSet struct {
	m      map[string]map[string]*presenceEntry
	timers timers[presenceTimer]
	gen    uint64
}

type presenceEntry struct {
	info    *broker.ClientInfo
	expires int64 // unix ns
	// gen names the entry's live timer; timers of a removed entry, or of one
	// re-added after removal, carry another gen and are dropped.
	gen uint64
}

type presenceTimer struct {
	channel, client string
	gen             uint64
}

func (ps *presenceSet) init() { ps.m = make(map[string]map[string]*presenceEntry) }

func (ps *presenceSet) add(channel string, info *broker.ClientInfo, expires int64) {
	clients := ps.m[channel]
	if clients == nil {
		clients = make(map[string]*presenceEntry)
		ps.m[channel] = clients
	}
	e := clients[info.Client]
	if e == nil {
		e = &presenceEntry{}
		clients[info.Client] = e
	} else if expires >= e.expires {
		// A refresh: the existing timer fires early and re-arms itself.
		e.info, e.expires = info, expires
		return
	}
	e.info, e.expires = info, expires
	ps.gen++
	e.gen = ps.gen
	ps.timers.push(expires, presenceTimer{channel, info.Client, e.gen})
}

// remove deletes an entry and reports whether there was one.
func (ps *presenceSet) remove(channel, client string) bool {
	clients := ps.m[channel]
	if _, ok := clients[client]; !ok {
		return false
	}
	delete(clients, client)
	if len(clients) == 0 {
		delete(ps.m, channel)
	}
	return true
}

// live calls fn for each unexpired entry of a channel.
func (ps *presenceSet) live(channel string, now int64, fn func(client string, info *broker.ClientInfo)) {
	for client, e := range ps.m[channel] {
		if now < e.expires {
			fn(client, e.info)
		}
	}
}

// sweep handles up to budget due timers, passing each entry it removes to
// expired, and reports whether more are due.
func (ps *presenceSet) sweep(now int64, budget int, expired func(channel string, info *broker.ClientInfo)) bool {
	for ; budget > 0; budget-- {
		t, ok := ps.timers.popDue(now)
		if !ok {
			return false
		}
		e := ps.m[t.v.channel][t.v.client]
		switch {
		case e == nil || e.gen != t.v.gen:
			// Stale: removed, or re-added with its own timer.
		case now < e.expires:
			ps.timers.push(e.expires, t.v) // refreshed since
		default:
			ps.remove(t.v.channel, t.v.client)
			expired(t.v.channel, e.info)
		}
	}
	return true
}

var errPresenceArgs = errors.New("memory: presence needs a client and a positive ttl")

// AddPresence adds or refreshes a client's entry until ttl from now.
func (b *Broker) AddPresence(_ context.Context, channel string, info *broker.ClientInfo, ttl time.Duration) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if info == nil || ttl <= 0 {
		return errPresenceArgs
	}
	expires := b.now() + int64(ttl)
	s := b.shard(channel)
	s.mu.Lock()
	s.presence.add(channel, info, expires)
	s.mu.Unlock()
	return nil
}

// RemovePresence removes a client's entry, announcing its leave with
// announce if it was there; removing a missing one is not an error. The
// shard's lock makes the removal and a sweep exclude each other.
func (b *Broker) RemovePresence(_ context.Context, channel string, info *broker.ClientInfo, announce bool) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if info == nil {
		return errPresenceArgs
	}
	s := b.shard(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.presence.remove(channel, info.Client) && announce {
		if _, ok := s.subscribed[channel]; ok {
			if h := b.h(); h != nil {
				h.HandleLeave(channel, info)
			}
		}
	}
	return nil
}

// Presence returns the unexpired entries by client id. The ClientInfo
// values are the ones given to AddPresence, shared: do not modify them.
func (b *Broker) Presence(_ context.Context, channel string) (map[string]*broker.ClientInfo, error) {
	if b.closed.Load() {
		return nil, broker.ErrClosed
	}
	now := b.now()
	out := make(map[string]*broker.ClientInfo)
	s := b.shard(channel)
	s.mu.Lock()
	s.presence.live(channel, now, func(client string, info *broker.ClientInfo) { out[client] = info })
	s.mu.Unlock()
	return out, nil
}

// PresenceStats counts the unexpired entries and their distinct users.
func (b *Broker) PresenceStats(_ context.Context, channel string) (broker.PresenceStats, error) {
	if b.closed.Load() {
		return broker.PresenceStats{}, broker.ErrClosed
	}
	now := b.now()
	var st broker.PresenceStats
	users := make(map[string]struct{})
	s := b.shard(channel)
	s.mu.Lock()
	s.presence.live(channel, now, func(_ string, info *broker.ClientInfo) {
		st.Clients++
		users[info.User] = struct{}{}
	})
	s.mu.Unlock()
	st.Users = len(users)
	return st, nil
}
