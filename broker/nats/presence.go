package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/broker"
)

// Presence entries are subjects of the presence stream, one per channel
// and client, holding the entry's expiry and info; the stream keeps one
// message per subject. Reads list a channel's subjects from the stream's
// info, get each entry, and leave out expired ones.
//
// An entry that expires is deleted by the sweep of a node subscribed to
// its channel. The delete names the entry's stream sequence, so when
// several nodes sweep the same entry only one delete succeeds, and only
// that node announces the leave, on the channel's live subject. A refresh
// replaces the message, so a sweep that read the entry before the refresh
// deletes nothing. Each channel is listed again when its earliest entry is
// due, at once after a local AddPresence or a join, and at least every 30
// sweeps in case another node added entries silently.

var errPresenceArgs = errors.New("nats: presence needs a client and a positive ttl")

// AddPresence adds or refreshes a client's entry until ttl from now.
func (b *Broker) AddPresence(ctx context.Context, channel string, info *broker.ClientInfo, ttl time.Duration) error {
	if err := b.check(); err != nil {
		return err
	}
	if info == nil || ttl <= 0 {
		return errPresenceArgs
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	expires := time.Now().Add(ttl).UnixNano()
	if _, err := b.js.Publish(ctx, b.subj.presenceEntry(channel, info.Client), encodePresence(expires, info),
		jetstream.WithRetryWait(20*time.Millisecond), jetstream.WithRetryAttempts(1<<20)); err != nil {
		return err
	}
	b.subsMu.Lock()
	if s := b.subs[channel]; s != nil {
		s.presenceDue = 0
	}
	b.subsMu.Unlock()
	return nil
}

// RemovePresence removes a client's entry; removing a missing one is not
// an error. With announce it deletes the entry by its sequence, as a sweep
// does, and announces the leave only if that delete succeeded: a sweep and
// a removal never both announce one entry. A connection lost between the
// delete and the announcement loses that leave.
func (b *Broker) RemovePresence(ctx context.Context, channel string, info *broker.ClientInfo, announce bool) error {
	if err := b.check(); err != nil {
		return err
	}
	if info == nil {
		return errPresenceArgs
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	st, subj := b.st().presence, b.subj.presenceEntry(channel, info.Client)
	if !announce {
		return st.Purge(ctx, jetstream.WithPurgeSubject(subj))
	}
	// A delete fails when a sweep deleted the entry first, or a refresh
	// replaced it: look again, a few times, since refreshes are rare.
	var err error
	for range 4 {
		var m *jetstream.RawStreamMsg
		if m, err = last(ctx, st, subj); err != nil || m == nil {
			return err
		}
		if err = st.DeleteMsg(ctx, m.Sequence); err == nil {
			return b.presenceEvent(channel, kindLeave, info)
		}
	}
	return err
}

// presenceEntry is a listed entry.
type presenceEntry struct {
	seq     uint64
	expires int64
	info    *broker.ClientInfo
}

// entries lists a channel's presence, expired entries included. The
// subjects come from the stream's info and the entries from message gets,
// both answered by the stream's leader: a consumer could run on a replica
// that has not caught up with an entry just added.
func (b *Broker) entries(ctx context.Context, channel string) ([]presenceEntry, error) {
	st := b.st().presence
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(b.subj.presenceOf(channel)))
	if err != nil {
		return nil, err
	}
	subjects := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		subjects = append(subjects, subj)
	}
	out := make([]presenceEntry, len(subjects))
	errs := make([]error, len(subjects))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, subj := range subjects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := last(ctx, st, subj)
			if err != nil || m == nil {
				errs[i] = err // nil when removed meanwhile
				return
			}
			if expires, info, err := decodePresence(m.Data); err == nil {
				out[i] = presenceEntry{seq: m.Sequence, expires: expires, info: info}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(e presenceEntry) bool { return e.info == nil }), nil
}

// Presence returns the unexpired entries by client id.
func (b *Broker) Presence(ctx context.Context, channel string) (map[string]*broker.ClientInfo, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	es, err := b.entries(ctx, channel)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	out := make(map[string]*broker.ClientInfo, len(es))
	for _, e := range es {
		if e.expires > now {
			out[e.info.Client] = e.info
		}
	}
	return out, nil
}

// PresenceStats counts the unexpired entries and their distinct users.
func (b *Broker) PresenceStats(ctx context.Context, channel string) (broker.PresenceStats, error) {
	p, err := b.Presence(ctx, channel)
	if err != nil {
		return broker.PresenceStats{}, err
	}
	users := make(map[string]struct{}, len(p))
	for _, info := range p {
		users[info.User] = struct{}{}
	}
	return broker.PresenceStats{Clients: len(p), Users: len(users)}, nil
}

// presenceSeen makes the sweeper list a channel at its next round.
func (b *Broker) presenceSeen(s *channelSub) {
	b.subsMu.Lock()
	s.presenceDue = 0
	b.subsMu.Unlock()
}

// sweepLoop sweeps presence and evicts idle inbox orderers every
// SweepInterval until Close.
func (b *Broker) sweepLoop() {
	t := time.NewTicker(b.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.sweepPresence()
			b.directs.evict(time.Now().Add(-directIdle))
		}
	}
}

func (b *Broker) sweepPresence() {
	if b.check() != nil {
		return
	}
	now := time.Now()
	var due []*channelSub
	b.subsMu.Lock()
	for _, s := range b.subs {
		if s.presenceDue <= now.UnixNano() {
			due = append(due, s)
		}
	}
	b.subsMu.Unlock()
	failed := 0
	var first error
	for _, s := range due {
		select {
		case <-b.stop:
			return
		default:
		}
		if err := b.sweepChannel(s, now); err != nil {
			if failed++; first == nil {
				first = fmt.Errorf("channel %s: %w", s.channel, err)
			}
		}
	}
	switch {
	case failed > 0 && b.nc.IsConnected():
		// JetStream unavailable (no leader, say) fails every channel every
		// round: one line per outage, not one per channel per round. A lost
		// connection is logged by itself.
		b.sweepLog.Fail(first, "channels", failed)
	case failed == 0:
		b.sweepLog.OK()
	}
}

// sweepChannel deletes the channel's expired entries, announcing a leave
// for each delete this node won, and sets when to look again.
func (b *Broker) sweepChannel(s *channelSub, now time.Time) error {
	ctx, cancel := context.WithTimeout(b.bg, b.opts.Timeout)
	defer cancel()
	b.subsMu.Lock()
	was := s.presenceDue
	b.subsMu.Unlock()
	es, err := b.entries(ctx, s.channel)
	if err != nil {
		return err
	}
	next := now.Add(30 * b.opts.SweepInterval).UnixNano()
	for _, e := range es {
		if e.expires > now.UnixNano() {
			next = min(next, e.expires)
			continue
		}
		if err := b.st().presence.DeleteMsg(ctx, e.seq); err != nil {
			continue // refreshed, removed, or swept by another node
		}
		if err := b.presenceEvent(s.channel, kindLeave, e.info); err != nil {
			b.opts.Logger.Warn("nats: announce expired presence", "channel", s.channel, "err", err)
		}
	}
	b.subsMu.Lock()
	if s.presenceDue == was { // not marked due again meanwhile
		s.presenceDue = next
	}
	b.subsMu.Unlock()
	return nil
}
