package memory

import (
	"context"

	"github.com/heraldhq/herald/broker"
)

// Send appends pub to the user's inbox when opts keeps history and delivers
// it to HandleDirect, under the inbox's shard lock so that direct messages
// to one user reach the handler in offset order. pub is stored and delivered
// as is (see the package comment).
func (b *Broker) Send(_ context.Context, user string, pub *broker.Publication, opts broker.StreamOptions) (broker.StreamPosition, error) {
	if b.closed.Load() {
		return broker.StreamPosition{}, broker.ErrClosed
	}
	defer b.enforceCaps()
	now := b.now()
	s := b.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if pub.Time == 0 {
		pub.Time = now / 1e6
	}
	var pos broker.StreamPosition
	if opts.Keeps() {
		st := s.inboxes.get(user, now, max(b.metaTTL(opts.MetaTTL), opts.TTL))
		pos = s.inboxes.append(st, pub, now, opts)
		s.inboxes.schedule(st)
	} else {
		pub.Offset = 0
	}
	if h := b.h(); h != nil {
		h.HandleDirect(user, pub, pos)
	}
	return pos, nil
}

// InboxHistory reads a user's inbox as History reads a channel, creating it
// (and its epoch) on first read.
func (b *Broker) InboxHistory(_ context.Context, user string, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	if b.closed.Load() {
		return nil, broker.StreamPosition{}, broker.ErrClosed
	}
	defer b.enforceCaps() // the read may have created the stream
	now := b.now()
	s := b.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.inboxes.get(user, now, b.metaTTL(opts.MetaTTL))
	pubs, err := st.read(opts)
	s.inboxes.schedule(st)
	return pubs, st.position(), err
}
