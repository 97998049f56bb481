package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/broker"
)

var errPresenceArgs = errors.New("redis: presence needs a client and a positive ttl")

// presenceGrace is how long a channel's presence keys outlive their latest
// expiry: long enough for a sweep to find expired entries and announce their
// leaves, after which Redis drops the keys by itself.
func (b *Broker) presenceGrace() time.Duration {
	return max(time.Minute, 10*b.opts.SweepInterval)
}

// AddPresence adds or refreshes a client's entry until ttl from now (by
// Redis's clock).
func (b *Broker) AddPresence(ctx context.Context, channel string, info *broker.ClientInfo, ttl time.Duration) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if info == nil || ttl <= 0 {
		return errPresenceArgs
	}
	k := b.channelKeys(channel)
	err := scriptPresenceAdd.Run(ctx, b.shardFor(channel).client, []string{k.presenceHash(), k.presenceExpiries()},
		info.Client, appendInfo(nil, info), ms(ttl), ms(b.presenceGrace())).Err()
	if err != nil {
		return b.fail(fmt.Errorf("redis: add presence to %s: %w", channel, err))
	}
	return nil
}

// RemovePresence removes a client's entry and, with announce, publishes
// its leave in the same script, if the entry was there; removing a missing
// one is not an error. A sweep (scripts/sweep.lua) removes and announces
// atomically too, so the two never both announce one entry.
func (b *Broker) RemovePresence(ctx context.Context, channel string, info *broker.ClientInfo, announce bool) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if info == nil {
		return errPresenceArgs
	}
	k := b.channelKeys(channel)
	var leave []byte
	if announce {
		leave = appendInfo([]byte{msgLeave}, info)
	}
	err := scriptPresenceRemove.Run(ctx, b.shardFor(channel).client, []string{k.presenceHash(), k.presenceExpiries()},
		info.Client, leave, b.pubCmd, k.pubsub()).Err()
	if err != nil {
		return b.fail(fmt.Errorf("redis: remove presence from %s: %w", channel, err))
	}
	return nil
}

// Presence returns the unexpired entries by client id.
func (b *Broker) Presence(ctx context.Context, channel string) (map[string]*broker.ClientInfo, error) {
	out := make(map[string]*broker.ClientInfo)
	err := b.presence(ctx, channel, func(client string, info *broker.ClientInfo) { out[client] = info })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PresenceStats counts the unexpired entries and their distinct users.
func (b *Broker) PresenceStats(ctx context.Context, channel string) (broker.PresenceStats, error) {
	var st broker.PresenceStats
	users := make(map[string]struct{})
	err := b.presence(ctx, channel, func(_ string, info *broker.ClientInfo) {
		st.Clients++
		users[info.User] = struct{}{}
	})
	if err != nil {
		return broker.PresenceStats{}, err
	}
	st.Users = len(users)
	return st, nil
}

// presence calls fn for each unexpired entry of a channel.
func (b *Broker) presence(ctx context.Context, channel string, fn func(client string, info *broker.ClientInfo)) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	k := b.channelKeys(channel)
	res, err := scriptPresence.Run(ctx, b.shardFor(channel).client, []string{k.presenceHash(), k.presenceExpiries()}).Slice()
	if err != nil {
		return b.fail(fmt.Errorf("redis: presence of %s: %w", channel, err))
	}
	for i := 0; i+1 < len(res); i += 2 {
		client, _ := res[i].(string)
		enc, _ := res[i+1].(string)
		info, _, err := decodeInfo(enc)
		if err != nil || info == nil {
			return fmt.Errorf("redis: presence of %s: %w", channel, errMalformed)
		}
		fn(client, info)
	}
	return nil
}
