package redis

import "strings"

// Key layout, for prefix P and a channel (or user) name escaped into a hash
// tag T (see tag):
//
//	P:c:{T}:s        channel stream: entries with ID <offset>-<expiry ms>
//	P:c:{T}:m        channel meta: hash o (top offset), e (epoch)
//	P:c:{T}:i:<key>  idempotency key: "<offset>:<epoch>" of the first publish
//	P:c:{T}:ph       presence: hash client → encoded ClientInfo
//	P:c:{T}:pz       presence: sorted set client → expiry (unix ms)
//	P:c:{T}          pub/sub channel of publications, joins and leaves
//	P:u:{T}:s, :m    a user's inbox stream and meta
//	P:control        pub/sub channel of control messages
//	P:direct         pub/sub channel of direct messages
//
// The hash tag puts all of a channel's keys and its sharded pub/sub channel
// in one Redis Cluster slot, which is what lets one script read and write
// them atomically.

// tag escapes a name so that it is a non-empty hash tag: Redis ends a tag at
// the first '}', and an empty tag "{}" hashes the whole key instead. The
// escaping is injective, so distinct names never share keys.
func tag(name string) string {
	if name == "" {
		return "%"
	}
	if !strings.ContainsAny(name, "%}") {
		return name
	}
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '%':
			b.WriteString("%25")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// streamKeys names one channel's or inbox's keys; base is "P:c:{T}" or
// "P:u:{T}".
type streamKeys struct{ base string }

func (b *Broker) channelKeys(channel string) streamKeys {
	return streamKeys{b.opts.Prefix + ":c:{" + tag(channel) + "}"}
}

func (b *Broker) inboxKeys(user string) streamKeys {
	return streamKeys{b.opts.Prefix + ":u:{" + tag(user) + "}"}
}

func (k streamKeys) stream() string           { return k.base + ":s" }
func (k streamKeys) meta() string             { return k.base + ":m" }
func (k streamKeys) idem(key string) string   { return k.base + ":i:" + key }
func (k streamKeys) presenceHash() string     { return k.base + ":ph" }
func (k streamKeys) presenceExpiries() string { return k.base + ":pz" }

// pubsub is the channel's pub/sub channel name.
func (k streamKeys) pubsub() string { return k.base }

func (b *Broker) controlChannel() string { return b.opts.Prefix + ":control" }
func (b *Broker) directChannel() string  { return b.opts.Prefix + ":direct" }
