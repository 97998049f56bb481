// Package nats is Herald's broker on NATS: core NATS subjects carry live
// fan-out between nodes, and JetStream streams keep history, inboxes,
// presence and idempotency keys. It needs only the JetStream of
// nats-server 2.9 (no per-message TTL, no multi-filter consumers, no batch
// publish), and runs as well on the server embedded by package embed.
//
// # Offsets
//
// A channel's stream is the chain of messages on one subject of the
// history stream (history.go). Every message carries its offset, its epoch
// and the stream sequence of the subject's previous message. A publish
// appends with Nats-Expected-Last-Subject-Sequence set to the sequence the
// offset was computed from, so that JetStream rejects it if any node
// appended in between; the publisher then reads the new head and tries
// again. Offsets therefore never skip or repeat, with no lock server and
// one write per publication. Each node serializes its own appends to a
// subject and remembers the head it wrote, so that it reads only after
// losing a race.
//
// Sizes and TTLs vary per namespace while a stream's limits are one per
// stream, so they are applied when reading: a read walks the chain back
// from the head and stops past the size, at a publication whose TTL
// passed, or where the chain breaks. A page that starts far below the
// head (a catch-up read in pages) does not walk down to it: it seeks the
// page's first offset with "next message on the subject from sequence"
// gets, interpolating on the offsets found, and reads the page with one
// consumer (chain.go), so its cost is the page's, whatever the backlog
// above it. Excess messages are purged in the
// background. The head is kept while the position lives, which is what
// lets a stream whose publications all expired continue at last+1 in the
// same epoch. A marker message starts an empty stream's epoch (the first
// publisher adopts it) and renews a position a read finds half expired;
// RemoveHistory purges the subject, and a position past its life is
// replaced, so the next epoch is new. A server that lost its store has no
// heads: every stream gets a new epoch.
//
// # Live delivery and ordering
//
// After appending, the publisher sends the whole record on the channel's
// core subject, to which subscribed nodes subscribe. Records from
// different publishers may arrive out of offset order, and a publisher may
// die between the two steps, so each subscribed channel has an orderer
// (order.go): it knows the next offset to deliver (from the head it read
// once the subscription was in place), holds records that come early, and
// after ReorderWait reads the missing ones from the stream by following
// the chain. The Handler therefore sees a channel's offsets in order,
// without gaps unless the stream lost them, one call at a time.
// Publications without history have offset 0 and skip the orderer.
// Direct messages go to one subject every node subscribes to and are
// ordered per user the same way; a user's orderer starts at the first
// message it sees.
//
// # Idempotency and presence
//
// An idempotency key is a subject of the keys stream claimed with a
// compare-and-set; the winner publishes and stores the result, and a
// repeat returns it (idempotency.go). A presence entry is a subject of the
// presence stream holding its expiry; reads list a channel's subjects
// from the stream's info, get the entries, and drop expired ones. Nodes sweep the
// channels they subscribe to and delete expired entries by sequence: one
// delete succeeds, and only its node announces the leave (presence.go).
//
// # Outages
//
// While NATS is unreachable every call fails at once with ErrDisconnected
// (publishes are not buffered) and Ping fails. nats.go reconnects and
// subscribes again; the broker then flushes, recreates its streams if the
// server lost them, forgets the heads it remembered, and calls
// Handler.HandleReconnect. Orderers keep their place, so a publication
// missed during the outage is read from the stream when the next one
// arrives; a stream that lost continuity shows a new epoch. A broker
// created while NATS is unreachable starts the same way, disconnected: it
// makes its streams when it first connects.
//
// Presence sweeps that fail (JetStream unavailable while NATS is
// connected) are logged once per outage, not per channel and round.
//
// # Concurrency
//
// All methods may be called concurrently. The Handler is called from
// nats.go's subscription goroutines and the broker's own, under the
// channel's (or user's) orderer lock; it must not block or call back into
// the broker. Lock order: directSet.mu before an orderer's lock; subsMu is
// never held while taking an orderer's lock or calling the Handler; a
// writer's lock is held across an append and the live publish after it.
package nats
