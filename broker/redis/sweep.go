package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// sweepBatch is how many channels one pipeline sweeps.
const sweepBatch = 256

// sweepMax is the most entries scripts/sweep.lua removes per call; a call
// that removed that many is repeated.
const sweepMax = 1000

// sweepLoop removes expired presence entries of subscribed channels every
// SweepInterval until Close, announcing each as a leave (see sweep.lua).
// Only subscribed channels are swept: a leave matters only to subscribers,
// and reads skip expired entries anyway. Another node subscribed to the
// same channel may sweep it too; the script makes sure each expiry is
// announced once.
func (b *Broker) sweepLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		conns := append([]*subConn(nil), b.conns...)
		b.mu.Unlock()
		failed := 0
		var first error
		for _, c := range conns {
			n, err := b.sweep(b.ctx, c.client, c.channels())
			if failed += n; first == nil {
				first = err
			}
		}
		switch {
		case b.ctx.Err() != nil:
		case failed > 0:
			// While Redis is away every channel fails every round: one
			// line per outage, not one per channel per round.
			b.sweepLog.Fail(first, "channels", failed)
		default:
			b.sweepLog.OK()
		}
	}
}

// sweep runs the sweep script on channels, pipelined, and returns how many
// failed and the first error.
func (b *Broker) sweep(ctx context.Context, client redis.UniversalClient, channels []string) (failed int, first error) {
	for len(channels) > 0 {
		n := min(len(channels), sweepBatch)
		batch := channels[:n]
		channels = channels[n:]
		ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
		pipe := client.Pipeline()
		cmds := make([]*redis.Cmd, len(batch))
		for i, ch := range batch {
			keys, args := b.sweepArgs(ch)
			cmds[i] = scriptSweep.EvalSha(ctx, pipe, keys, args...)
		}
		_, _ = pipe.Exec(ctx)
		for i, cmd := range cmds {
			removed, err := cmd.Int()
			for (err == nil && removed == sweepMax) || isNoScript(err) {
				// A big expiry or a server without the script: go on
				// with this channel alone.
				keys, args := b.sweepArgs(batch[i])
				removed, err = scriptSweep.Run(ctx, client, keys, args...).Int()
			}
			if err != nil {
				if failed++; first == nil {
					first = fmt.Errorf("channel %s: %w", batch[i], err)
				}
			}
		}
		cancel()
	}
	return failed, first
}

func (b *Broker) sweepArgs(channel string) ([]string, []any) {
	k := b.channelKeys(channel)
	return []string{k.presenceHash(), k.presenceExpiries()}, []any{b.pubCmd, k.pubsub()}
}

func isNoScript(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT")
}
