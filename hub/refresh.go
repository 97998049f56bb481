package hub

import "github.com/heraldhq/herald/protocol"

// What refresh (connect.go) needs besides the token check.

// errRefreshNeedsExp refuses a token without exp for a connection that
// expires: taken as it is, it would make the connection immortal, which a
// backend that forgot exp in its refresh endpoint never meant. A connection
// whose connect token had no exp may refresh with another such token.
var errRefreshNeedsExp = protocol.NewError(protocol.CodeBadRequest, "token without exp: a refresh cannot remove the connection's expiry")

// readdPresence writes the client's presence entries again, with its
// current info, so that a refresh's new info shows at once instead of at
// the refresher's next pass (up to a third of the presence TTL).
func (c *Client) readdPresence() {
	h := c.hub
	ctx, cancel := h.brokerContext()
	defer cancel()
	info := c.clientInfo(true)
	for _, s := range c.presenceSubs() {
		if err := h.broker.AddPresence(ctx, s.channel, info, h.cfg.PresenceTTL); err != nil {
			h.log.Warn("refresh presence", "channel", s.channel, "err", err)
			return // the broker is away; the refresher tries again
		}
	}
}
