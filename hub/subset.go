package hub

// subSet is a client's subscriptions by channel. Most connections hold
// one channel (a user's own, a page's), and a map holding one entry costs
// about 250 bytes: the first subscription sits in the set itself, and a
// map is made only for a second. The owner's lock guards it.
type subSet struct {
	one  *subscription            // the only one, while many is nil
	many map[string]*subscription // all of them, once there were two
}

// get returns the subscription to channel, nil if none.
func (s *subSet) get(channel string) *subscription {
	if s.many != nil {
		return s.many[channel]
	}
	if s.one != nil && s.one.channel == channel {
		return s.one
	}
	return nil
}

// put adds sub, in place of any to the same channel.
func (s *subSet) put(sub *subscription) {
	switch {
	case s.many != nil:
		s.many[sub.channel] = sub
	case s.one == nil || s.one.channel == sub.channel:
		s.one = sub
	default:
		s.many = map[string]*subscription{s.one.channel: s.one, sub.channel: sub}
		s.one = nil
	}
}

// remove removes and returns the subscription to channel, nil if none.
func (s *subSet) remove(channel string) *subscription {
	if s.many != nil {
		sub := s.many[channel]
		delete(s.many, channel)
		return sub
	}
	sub := s.one
	if sub == nil || sub.channel != channel {
		return nil
	}
	s.one = nil
	return sub
}

// len returns how many subscriptions the set holds.
func (s *subSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.one != nil {
		return 1
	}
	return 0
}

// all calls f for each subscription.
func (s *subSet) all(f func(*subscription)) {
	if s.many != nil {
		for _, sub := range s.many {
			f(sub)
		}
		return
	}
	if s.one != nil {
		f(s.one)
	}
}

// take empties the set and returns what it held.
func (s *subSet) take() []*subscription {
	out := make([]*subscription, 0, s.len())
	s.all(func(sub *subscription) { out = append(out, sub) })
	*s = subSet{}
	return out
}
