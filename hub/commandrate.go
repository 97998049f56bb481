package hub

import "time"

// commandBucket is a connection's command rate limit (CommandRate,
// CommandBurst): a token bucket kept in the Client itself rather than a
// rate.Limiter of its own, because only the connection's reader takes from
// it (no lock) and every connection, idle ones too, has one: 16 bytes in
// place of a 100-byte allocation.
type commandBucket struct {
	tokens float64 // left after the last take
	last   int64   // when, in nanoseconds since the hub started; 0: never
}

// allow takes a token at now (nanoseconds since the hub started, > 0) if
// one is there. A bucket starts full and refills at rate per second, up to
// burst.
func (b *commandBucket) allow(now int64, rate float64, burst int) bool {
	if b.last == 0 {
		b.tokens = float64(burst)
	} else if now > b.last {
		b.tokens = min(float64(burst), b.tokens+float64(now-b.last)*rate/float64(time.Second))
	}
	b.last = max(b.last, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// allowCommand takes one command from the connection's bucket. Called by
// the reader only.
func (c *Client) allowCommand() bool {
	now := int64(time.Since(c.hub.started)) + 1 // > 0 even at the start
	return c.commands.allow(now, c.hub.cfg.CommandRate, c.hub.cfg.CommandBurst)
}
