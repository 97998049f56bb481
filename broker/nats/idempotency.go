package nats

import (
	"context"
	"time"

	"github.com/heraldhq/herald/broker"
)

// publishOnce publishes unless the idempotency key was used on the channel
// within its TTL, in which case it returns the first result.
//
// A key is a subject in the keys stream, claimed with a compare-and-set
// (expected last sequence 0, or the sequence of an expired or released
// state): exactly one publisher wins the claim, publishes, and replaces the
// claim with the result. A publisher that finds a claim waits for the
// result; a claim whose owner died expires after twice Options.Timeout.
func (b *Broker) publishOnce(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions) (broker.StreamPosition, bool, error) {
	ttl := opts.IdempotencyTTL
	if ttl <= 0 {
		ttl = b.opts.IdempotencyTTL
	}
	subj := b.subj.idemKey(channel, opts.IdempotencyKey)
	keys := b.st().keys
	prev := uint64(0) // most keys are new: try the claim before reading
	for {
		now := time.Now()
		claim := idemValue{state: idemClaimed, expires: now.Add(2 * b.opts.Timeout).UnixNano()}
		seq, err := b.appendIf(ctx, subj, claim.encode(), prev)
		if err == nil {
			pos, err := b.publish(ctx, channel, pub, opts.Stream)
			if err != nil {
				_, _ = b.appendIf(ctx, subj, idemValue{state: idemReleased}.encode(), seq)
				return pos, false, err
			}
			done := idemValue{state: idemDone, expires: now.Add(ttl).UnixNano(), pos: pos}
			if _, err := b.appendIf(ctx, subj, done.encode(), seq); err != nil {
				b.opts.Logger.Warn("nats: store idempotency result", "channel", channel, "err", err)
			}
			return pos, false, nil
		}
		if !isWrongLast(err) {
			return broker.StreamPosition{}, false, err
		}
		// Taken: read the key's state until it is a result or free.
		for {
			m, err := last(ctx, keys, subj)
			if err != nil {
				return broker.StreamPosition{}, false, err
			}
			if m == nil {
				prev = 0
				break
			}
			v, err := decodeIdem(m.Data)
			now := time.Now().UnixNano()
			if err != nil || v.state == idemReleased || v.expires <= now {
				prev = m.Sequence
				break
			}
			if v.state == idemDone {
				return v.pos, true, nil
			}
			select { // claimed by a publisher still at work
			case <-ctx.Done():
				return broker.StreamPosition{}, false, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}
