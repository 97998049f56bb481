package hub

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/ratelimit"
	"github.com/heraldhq/herald/protocol"
)

// Quotas on what one user's commands make the broker keep. Rate limits
// bound how fast a connection sends commands; they do not bound what the
// commands leave behind. A stream, once started, keeps its position for a
// day and its publications for their TTL, on every engine: a client that
// publishes to or subscribes to fresh channel names, or sends to made-up
// user names, grows the broker's memory by a stream each time, and keeps it
// grown after it left. So each user (each connection, for anonymous ones)
// has, per node:
//
//   - a quota of channel streams started per NewChannelInterval: a publish
//     answered with offset 1, or a subscribe or history read of a channel
//     that keeps history answered with offset 0, counts one;
//   - a quota of inboxes started per NewRecipientInterval: a send answered
//     with offset 1 counts one;
//   - for each recipient, a bucket of InboxPerSender messages that refills
//     over the inbox TTL, so that one sender cannot fill another user's
//     inbox and push the messages of others out of it. A reply refills it:
//     a conversation is not a flood, and an attacker gets no replies.
//
// The broker's answer says whether a stream was started, so a quota is
// charged after a command, and checked before it: once it is spent, the
// user's commands that could start a stream are refused with 110 until it
// refills. A command on a stream that surely exists is not refused: a
// channel with subscribers on this node, the inbox of a user connected to
// it. Commands from the same user in flight together may overrun a quota
// by their number. The server API is trusted and never counted.
//
// The buckets live in rate tables (internal/ratelimit), bounded like the per-channel publish
// buckets: a bucket that refilled is dropped, and a full table drops an
// arbitrary one, which at worst hands its key a fresh quota.
type quotas struct {
	channels   *ratelimit.Table // user → channel streams started
	recipients *ratelimit.Table // user → inboxes started
	perSender  *ratelimit.Table // sender, recipient → messages sent
}

// Table sizes: enough for every user active within an interval on a busy
// node, small enough to matter little (a bucket is about 100 bytes).
const (
	maxQuotaUsers    = 1 << 16
	maxSenderBuckets = 1 << 18
)

func (q *quotas) init() {
	q.channels = ratelimit.NewTable(maxQuotaUsers)
	q.recipients = ratelimit.NewTable(maxQuotaUsers)
	q.perSender = ratelimit.NewTable(maxSenderBuckets)
}

var (
	errNewChannelQuota   = protocol.NewError(protocol.CodeTooManyRequests, "too many new channels")
	errNewRecipientQuota = protocol.NewError(protocol.CodeTooManyRequests, "too many new recipients")
	errInboxPerSender    = protocol.NewError(protocol.CodeTooManyRequests, "too many messages to this user")
)

// quotaKey names the client's user in the quota tables; anonymous
// connections each have their own quota.
func (c *Client) quotaKey() string {
	if u := c.User(); u != "" {
		return u
	}
	return "\x00" + c.id
}

// quotaRate is the refill rate of a quota of n per interval.
func quotaRate(n int, interval time.Duration) rate.Limit {
	return rate.Limit(float64(n) / interval.Seconds())
}

// checkNewChannel refuses a client command that could start the stream of
// channel, in ns, when the user's quota of new channel streams is spent.
func (c *Client) checkNewChannel(ns *Namespace, channel string) error {
	cfg := &c.hub.cfg
	if cfg.NewChannelQuota < 0 || !ns.KeepsHistory() {
		return nil
	}
	if !c.hub.quotas.channels.HasToken(c.quotaKey(), time.Now()) && !c.hub.channels.has(channel) {
		c.hub.obs.RateLimited(LimitNewChannels)
		return errNewChannelQuota
	}
	return nil
}

// countNewChannel charges the user's quota when a command started a stream
// of a channel in ns.
func (c *Client) countNewChannel(ns *Namespace, started bool) {
	cfg := &c.hub.cfg
	if !started || cfg.NewChannelQuota < 0 || !ns.KeepsHistory() {
		return
	}
	c.hub.quotas.channels.Allow(c.quotaKey(), quotaRate(cfg.NewChannelQuota, cfg.NewChannelInterval), cfg.NewChannelQuota)
}

// checkSend applies a send's quotas before it: the sender's bucket for this
// recipient (taken here), and the sender's quota of new inboxes.
func (c *Client) checkSend(sender, recipient string) error {
	cfg := &c.hub.cfg
	if !cfg.Inbox.Keeps() {
		return nil // nothing is kept: live delivery only
	}
	if n := cfg.InboxPerSender; n > 0 &&
		!c.hub.quotas.perSender.Allow(sender+"\x00"+recipient, quotaRate(n, cfg.Inbox.TTL), n) {
		c.hub.obs.RateLimited(LimitInboxSender)
		return errInboxPerSender
	}
	if cfg.NewRecipientQuota >= 0 && !c.hub.quotas.recipients.HasToken(sender, time.Now()) && c.hub.users.countOf(recipient) == 0 {
		c.hub.obs.RateLimited(LimitNewRecipients)
		return errNewRecipientQuota
	}
	return nil
}

// countSend charges the sender's quota of new inboxes when the send
// started one (offset 1), and refills the recipient's bucket for messages
// to the sender: it is a reply.
func (c *Client) countSend(sender, recipient string, res protocol.PublishResult, err error) {
	cfg := &c.hub.cfg
	if err != nil || !cfg.Inbox.Keeps() {
		return
	}
	c.hub.quotas.perSender.Forget(recipient + "\x00" + sender)
	if res.Offset == 1 && cfg.NewRecipientQuota >= 0 {
		c.hub.quotas.recipients.Allow(sender, quotaRate(cfg.NewRecipientQuota, cfg.NewRecipientInterval), cfg.NewRecipientQuota)
	}
}

// has reports whether channel has subscribers on this node.
func (r *channelRegistry) has(channel string) bool {
	sh := &r.shards[shardOf(channel)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[channel] != nil
}
