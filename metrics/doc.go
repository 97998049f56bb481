// Package metrics exposes Herald's Prometheus metrics. Everything registers
// on a registry the caller passes in, never on the global one, so that one
// process (or one test) can run several servers side by side.
//
// Metrics implements hub.Observer and server.Observer: pass it as
// hub.Config.Observer and server.Config.Observer, call WatchHub once the
// hub exists, wrap the broker with InstrumentBroker, and serve Handler(reg)
// at /metrics.
//
// # Cost
//
// The hub reports per command, per frame written and per push fanned out
// (with a count), never per subscriber of a push. Every label set the hot
// paths use is resolved once, in New, so an observation is a few atomic
// adds, without allocating or locking. Labels never carry a channel, a
// user or a client id: their values are fixed, small sets.
//
// # Delivery latency and clocks
//
// herald_delivery_latency_seconds runs from a publication's Time to the
// moment the writer hands the frame holding it to the socket. That Time is
// stamped where the broker accepts the publication: by the publishing
// node's clock with the memory and NATS brokers, by the Redis server's
// clock with Redis. On another node the measure therefore includes the
// offset between two clocks: it is only as good as the cluster's clock
// synchronisation (NTP keeps it to a millisecond or so), and a negative
// difference counts as zero. Publication times are whole milliseconds, so
// a value may overstate the latency by up to a millisecond. The writer
// samples once per frame, the oldest publication in the frame: under load,
// when frames batch many messages, the histogram leans to the worst case.
// Publications held back while a subscribe was in progress, and history,
// are not sampled.
package metrics
