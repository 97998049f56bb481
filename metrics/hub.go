package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// The hub.Observer methods. Each is a lookup of a counter resolved in New
// and an atomic add.

// ConnectionOpened implements hub.Observer.
func (m *Metrics) ConnectionOpened() {
	m.connections.Inc()
	m.connectionsOpened.Inc()
}

// ConnectionClosed implements hub.Observer.
func (m *Metrics) ConnectionClosed(code protocol.CloseCode) {
	m.connections.Dec()
	if c, ok := m.closedByCode[code]; ok {
		c.Inc()
		return
	}
	m.closedOther.Inc()
}

// FrameReceived implements hub.Observer.
func (m *Metrics) FrameReceived(enc protocol.Encoding, size int) {
	if enc < protocol.NumEncodings {
		m.bytesIn[enc].Add(float64(size))
	}
}

// CommandReceived implements hub.Observer.
func (m *Metrics) CommandReceived(enc protocol.Encoding, typ string) {
	if enc < protocol.NumEncodings {
		m.messagesIn[enc].get(typ).Inc()
	}
}

// Queued implements hub.Observer.
func (m *Metrics) Queued(enc protocol.Encoding, kind string, n int) {
	if enc < protocol.NumEncodings {
		m.messagesOut[enc].get(kind).Add(float64(n))
	}
}

// FrameWritten implements hub.Observer.
func (m *Metrics) FrameWritten(enc protocol.Encoding, size, _, depth int, pubTime int64) {
	if enc < protocol.NumEncodings {
		m.bytesOut[enc].Add(float64(size))
	}
	m.queueDepth.Observe(float64(depth))
	if pubTime != 0 {
		d := time.Duration(time.Now().UnixNano() - pubTime*int64(time.Millisecond))
		m.deliveryLatency.Observe(max(d, 0).Seconds())
	}
}

// SlowConsumer implements hub.Observer.
func (m *Metrics) SlowConsumer() { m.slowConsumers.Inc() }

// hubCollector reads the hub's registries at scrape time, so that keeping
// these gauges costs the hub nothing between scrapes.
type hubCollector struct{ h *hub.Hub }

var (
	usersDesc = prometheus.NewDesc("herald_users",
		"Distinct authenticated users with a connection to this node.", nil, nil)
	subscriptionsDesc = prometheus.NewDesc("herald_subscriptions",
		"Channel subscriptions of this node's connections.", nil, nil)
	channelsDesc = prometheus.NewDesc("herald_channels",
		"Channels with at least one subscriber on this node.", nil, nil)
	outgoingDesc = prometheus.NewDesc("herald_outgoing_bytes",
		"Bytes of replies and recovery pages queued or being written to this node's connections, against limits.max_outgoing_bytes.", nil, nil)
	presenceRemovalsDesc = prometheus.NewDesc("herald_presence_removals_pending",
		"Presence removals this node keeps retrying until the engine is back.", nil, nil)
)

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usersDesc
	ch <- subscriptionsDesc
	ch <- channelsDesc
	ch <- outgoingDesc
	ch <- presenceRemovalsDesc
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	info := c.h.Info()
	ch <- prometheus.MustNewConstMetric(usersDesc, prometheus.GaugeValue, float64(info.Users))
	ch <- prometheus.MustNewConstMetric(subscriptionsDesc, prometheus.GaugeValue, float64(info.Subs))
	ch <- prometheus.MustNewConstMetric(channelsDesc, prometheus.GaugeValue, float64(info.Channels))
	ch <- prometheus.MustNewConstMetric(outgoingDesc, prometheus.GaugeValue, float64(c.h.Stats().OutgoingBytes))
	ch <- prometheus.MustNewConstMetric(presenceRemovalsDesc, prometheus.GaugeValue, float64(c.h.PendingPresenceRemovals()))
}
