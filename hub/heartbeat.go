package hub

import (
	"time"

	"github.com/heraldhq/herald/protocol"
)

// One timer per client serves the connect timeout and then the heartbeat, so
// an idle connection holds no goroutine and a single runtime timer.

// onTimer fires for the connect timeout, to send a ping, or when a ping went
// unanswered.
func (c *Client) onTimer() {
	c.mu.Lock()
	switch c.state {
	case stateClosed:
		c.mu.Unlock()
		return
	case stateConnecting:
		c.mu.Unlock()
		c.Disconnect(protocol.DisconnectConnectTimeout)
		return
	}
	if c.awaitPong {
		c.mu.Unlock()
		c.Disconnect(protocol.DisconnectHeartbeatTimeout)
		return
	}
	if c.noPong {
		// A stream client's ping is for its own watchdog: the server finds
		// a dead one by its writes failing or timing out.
		c.timer.Reset(c.hub.cfg.PingInterval)
	} else {
		c.awaitPong = true
		c.timer.Reset(c.hub.cfg.PongTimeout)
	}
	c.mu.Unlock()
	c.enqueue(c.enc.PingPush())
	c.hub.obs.Queued(c.enc, protocol.PushPing, 1)
}

// startHeartbeat switches the timer from connect timeout to heartbeat. Called
// with c.mu held.
func (c *Client) startHeartbeat() {
	c.timer.Stop()
	c.timer.Reset(c.hub.cfg.PingInterval)
}

// onPong is the client's answer to a ping: the next ping is due one interval
// from now.
func (c *Client) onPong() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateConnected || !c.awaitPong {
		return
	}
	c.awaitPong = false
	c.timer.Reset(c.hub.cfg.PingInterval)
}

// scheduleExpiry arms the token expiry timer: refresh_needed some time before
// exp, then a 4003 close at exp unless refresh extended it. Called with c.mu
// held.
func (c *Client) scheduleExpiry() {
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.expiresAt == 0 {
		return
	}
	// Notice comes RefreshNotice before exp, or halfway for a token with
	// less life than that: an earlier notice would be answered by a token
	// just as short, and the two sides would refresh in a loop.
	until := time.Until(time.Unix(c.expiresAt, 0))
	c.expiry = time.AfterFunc(until-min(c.hub.cfg.RefreshNotice, until/2), c.onExpiryTimer)
}

func (c *Client) onExpiryTimer() {
	c.mu.Lock()
	if c.state != stateConnected || c.expiresAt == 0 {
		c.mu.Unlock()
		return
	}
	left := time.Until(time.Unix(c.expiresAt, 0))
	if left <= 0 {
		c.mu.Unlock()
		c.Disconnect(protocol.DisconnectTokenExpired)
		return
	}
	c.expiry = time.AfterFunc(left, c.onExpiryTimer)
	exp := c.expiresAt
	c.mu.Unlock()
	c.enqueue(c.enc.AppendRefreshNeededPush(nil, exp))
	c.hub.obs.Queued(c.enc, protocol.PushRefreshNeeded, 1)
}
