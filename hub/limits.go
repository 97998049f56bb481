package hub

import (
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/protocol"
)

// maxChannelLimiters bounds the per-channel publish buckets of a node.
const maxChannelLimiters = 1 << 18

// newLimiter returns a bucket for a rate option where a negative rate means
// no limit.
func newLimiter(r float64, burst int) *rate.Limiter {
	if r < 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(r), burst)
}

// errPublishRate and errReadRate tell the client which bucket ran dry; both
// carry 110 and are temporary.
var (
	errPublishRate        = protocol.NewError(protocol.CodeTooManyRequests, "publish rate exceeded")
	errReadRate           = protocol.NewError(protocol.CodeTooManyRequests, "presence and history rate exceeded")
	errChannelPublishRate = protocol.NewError(protocol.CodeTooManyRequests, "channel publish rate exceeded")
	errDataTooDeep        = protocol.NewError(protocol.CodeBadRequest, "data nested too deeply")
)

// checkRate applies the per-connection buckets for cmd's type, after the
// general command bucket. It returns the error to reply with, or nil. Runs
// on the reader goroutine, which owns the buckets; they are created on
// first use so that connections that never publish carry none.
func (c *Client) checkRate(cmd *protocol.Command) *protocol.Error {
	cfg := &c.hub.cfg
	switch cmd.Type {
	case protocol.TypePublish, protocol.TypeSend:
		if c.publishLimiter == nil {
			c.publishLimiter = newLimiter(cfg.PublishRate, cfg.PublishBurst)
		}
		if !c.publishLimiter.Allow() {
			c.hub.obs.RateLimited(LimitPublish)
			return errPublishRate
		}
	case protocol.TypePresence, protocol.TypePresenceStats, protocol.TypeHistory:
		if c.readLimiter == nil {
			c.readLimiter = newLimiter(cfg.ReadRate, cfg.ReadBurst)
		}
		if !c.readLimiter.Allow() {
			c.hub.obs.RateLimited(LimitRead)
			return errReadRate
		}
	}
	return nil
}

// allowChannelPublish applies the namespace's per-channel publish rate to
// a client publish. The server API is not limited: the backend is trusted.
func (h *Hub) allowChannelPublish(channel string, ns *Namespace) bool {
	if ns.PublishRate <= 0 {
		return true
	}
	return h.channelRates.Allow(channel, rate.Limit(ns.PublishRate), ns.publishBurst())
}
