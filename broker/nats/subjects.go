package nats

import "encoding/base64"

// Subjects and streams, for prefix P and a name encoded as token T:
//
//	P.p.T      core: a channel's live publications, joins and leaves
//	P.d        core: direct messages (every node subscribes)
//	P.ctl      core: control messages (every node subscribes)
//	P.h.c.T    stream P_history: a channel's publications and markers
//	P.h.u.T    stream P_history: a user's inbox
//	P.pr.T.C   stream P_presence: client C's entry in channel T
//	P.k.T.K    stream P_keys: idempotency key K of channel T
//
// Channel names may contain '.', '*' and '>', which NATS reads as token
// separators and wildcards, so every name becomes one token of unpadded
// base64url, whose alphabet subjects accept as is.

// token encodes a name as a single subject token. The empty name, which
// base64 would make an empty token, becomes "=", outside the alphabet.
func token(name string) string {
	if name == "" {
		return "="
	}
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// subjects holds the names derived from the prefix.
type subjects struct {
	prefix string
	// Streams.
	history, presence, keys string
}

func newSubjects(prefix string) subjects {
	return subjects{
		prefix:   prefix,
		history:  prefix + "_history",
		presence: prefix + "_presence",
		keys:     prefix + "_keys",
	}
}

func (s subjects) live(channel string) string       { return s.prefix + ".p." + token(channel) }
func (s subjects) direct() string                   { return s.prefix + ".d" }
func (s subjects) control() string                  { return s.prefix + ".ctl" }
func (s subjects) channelLog(channel string) string { return s.prefix + ".h.c." + token(channel) }
func (s subjects) inboxLog(user string) string      { return s.prefix + ".h.u." + token(user) }
func (s subjects) historyAll() string               { return s.prefix + ".h.>" }
func (s subjects) presenceAll() string              { return s.prefix + ".pr.>" }
func (s subjects) keysAll() string                  { return s.prefix + ".k.>" }

// presenceOf is the filter matching every entry of a channel.
func (s subjects) presenceOf(channel string) string { return s.prefix + ".pr." + token(channel) + ".*" }

func (s subjects) presenceEntry(channel, client string) string {
	return s.prefix + ".pr." + token(channel) + "." + token(client)
}

func (s subjects) idemKey(channel, key string) string {
	return s.prefix + ".k." + token(channel) + "." + token(key)
}
