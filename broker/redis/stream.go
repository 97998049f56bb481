package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/broker"
)

// write is one append to a channel's or an inbox's stream and its delivery.
type write struct {
	keys    streamKeys
	stream  broker.StreamOptions
	idemKey string
	idemTTL int64 // ms
	pubCmd  string
	pubsub  string
	prefix  string // message kind, and for a direct message the user
}

// append runs the publish script (see scripts/publish.lua), or, for a
// publication that is neither kept nor deduplicated, deliverOnly.
func (b *Broker) append(ctx context.Context, client redis.UniversalClient, pub *broker.Publication, w write) (broker.StreamPosition, bool, error) {
	if !w.stream.Keeps() && w.idemKey == "" {
		return broker.StreamPosition{}, false, deliverOnly(ctx, client, pub, w)
	}
	keys := []string{w.keys.stream(), w.keys.meta()}
	idemTTL := w.idemTTL
	if w.idemKey != "" {
		keys = append(keys, w.keys.idem(w.idemKey))
		if idemTTL <= 0 {
			idemTTL = ms(b.opts.IdempotencyTTL)
		}
	}
	var size, ttl int64
	if w.stream.Keeps() {
		size, ttl = int64(w.stream.Size), ms(w.stream.TTL)
	}
	res, err := scriptPublish.Run(ctx, client, keys,
		newEpoch(), size, ttl, ms(b.metaTTL(w.stream.MetaTTL)), idemTTL,
		pub.Time, encodeBody(pub), w.pubCmd, w.pubsub, w.prefix).Slice()
	if err != nil {
		return broker.StreamPosition{}, false, err
	}
	if len(res) != 3 {
		return broker.StreamPosition{}, false, errMalformed
	}
	repeated, _ := res[0].(int64)
	ps, _ := res[1].(string)
	t, _ := res[2].(int64)
	pos, _, err := decodePosition(ps)
	if err != nil {
		return pos, false, err
	}
	if repeated == 0 {
		pub.Offset = pos.Offset
		if pub.Time == 0 {
			pub.Time = t
		}
	}
	return pos, repeated == 1, nil
}

// deliverOnly delivers a publication that has no stream to go into and no
// idempotency key to remember: one PUBLISH (SPUBLISH on a Cluster) of the
// message the publish script would send, instead of a script call that
// reads the server's clock and publishes. Its time is this node's clock.
func deliverOnly(ctx context.Context, client redis.UniversalClient, pub *broker.Publication, w write) error {
	if pub.Time == 0 {
		pub.Time = time.Now().UnixMilli()
	}
	body := encodeBody(pub)
	// prefix, the position ("0:", no offset and no epoch), ':', time, ':', body.
	msg := make([]byte, 0, len(w.prefix)+24+len(body))
	msg = append(msg, w.prefix...)
	msg = append(msg, "0::"...)
	msg = strconv.AppendInt(msg, pub.Time, 10)
	msg = append(msg, ':')
	msg = append(msg, body...)
	return client.Do(ctx, w.pubCmd, w.pubsub, msg).Err()
}

// read runs the history script (see scripts/history.lua).
func (b *Broker) read(ctx context.Context, client redis.Scripter, k streamKeys, opts broker.HistoryOptions) ([]*broker.Publication, broker.StreamPosition, error) {
	hasSince, sinceOffset, sinceEpoch := 0, uint64(0), ""
	if opts.Since != nil {
		hasSince, sinceOffset, sinceEpoch = 1, opts.Since.Offset, opts.Since.Epoch
	}
	reverse := 0
	if opts.Reverse {
		reverse = 1
	}
	res, err := scriptHistory.Run(ctx, client, []string{k.stream(), k.meta()},
		newEpoch(), ms(b.metaTTL(opts.MetaTTL)), hasSince, sinceOffset, sinceEpoch, opts.Limit, reverse).Slice()
	if err != nil {
		return nil, broker.StreamPosition{}, err
	}
	if len(res) < 3 || len(res)%2 == 0 {
		return nil, broker.StreamPosition{}, errMalformed
	}
	top, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	broken, _ := res[2].(int64)
	pos := broker.StreamPosition{Offset: uint64(top), Epoch: epoch}
	pubs := make([]*broker.Publication, 0, (len(res)-3)/2)
	for i := 3; i < len(res); i += 2 {
		id, _ := res[i].(string)
		entry, _ := res[i+1].(string)
		offset, err := entryOffset(id)
		if err != nil {
			return nil, pos, fmt.Errorf("%w: entry ID %q", errMalformed, id)
		}
		pub, err := decodeEntry(entry, offset)
		if err != nil {
			return nil, pos, err
		}
		pubs = append(pubs, pub)
	}
	if broken == 1 {
		return pubs, pos, broker.ErrUnrecoverable
	}
	return pubs, pos, nil
}

// metaTTL resolves a per-call MetaTTL against the broker's default.
func (b *Broker) metaTTL(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return b.opts.MetaTTL
}
