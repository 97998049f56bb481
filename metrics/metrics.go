package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

// BuildInfo identifies the running binary in herald_build_info.
type BuildInfo struct {
	Version string // release version; "" is reported as "unknown"
	Commit  string // VCS revision; "" is reported as "unknown"
}

// Metrics holds Herald's metrics. It implements hub.Observer and
// server.Observer. Create it with New.
type Metrics struct {
	reg prometheus.Registerer

	connections       prometheus.Gauge
	connectionsOpened prometheus.Counter
	closedByCode      map[protocol.CloseCode]prometheus.Counter
	closedOther       prometheus.Counter

	messagesIn  [protocol.NumEncodings]labelSet
	messagesOut [protocol.NumEncodings]labelSet
	bytesIn     [protocol.NumEncodings]prometheus.Counter
	bytesOut    [protocol.NumEncodings]prometheus.Counter

	deliveryLatency prometheus.Histogram
	queueDepth      prometheus.Histogram
	slowConsumers   prometheus.Counter
	rateLimited     [hub.NumLimits]prometheus.Counter

	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec

	brokerDuration *prometheus.HistogramVec
	brokerErrors   *prometheus.CounterVec

	consumers *consumerVecs
}

var (
	_ hub.Observer    = (*Metrics)(nil)
	_ server.Observer = (*Metrics)(nil)
)

// labelSet maps the known values of a "type" label to their counters;
// anything else counts under "unknown".
type labelSet struct {
	known   map[string]prometheus.Counter
	unknown prometheus.Counter
}

func (l *labelSet) get(v string) prometheus.Counter {
	if c, ok := l.known[v]; ok {
		return c
	}
	return l.unknown
}

// commandTypes are the "type" label values of herald_messages_received_total.
var commandTypes = []string{
	protocol.TypeConnect, protocol.TypeSubscribe, protocol.TypeUnsubscribe,
	protocol.TypePublish, protocol.TypePresence, protocol.TypePresenceStats,
	protocol.TypeHistory, protocol.TypeSend, protocol.TypeRefresh, protocol.TypePong,
}

// outTypes are the "type" label values of herald_messages_sent_total.
var outTypes = []string{
	hub.KindReply, protocol.PushMessage, protocol.PushJoin, protocol.PushLeave,
	protocol.PushDirect, protocol.PushSubscribed, protocol.PushUnsubscribed,
	protocol.PushRefreshNeeded, protocol.PushPing, protocol.PushDisconnect,
}

// closeCodes are the close codes herald_connections_closed_total names;
// any other code a peer sends counts as "other".
var closeCodes = []protocol.CloseCode{
	protocol.CloseNormal, protocol.CloseGoingAway, protocol.CloseProtocolError,
	protocol.CloseUnsupportedData, protocol.CloseAbnormal, protocol.CloseInvalidPayload,
	protocol.CloseMessageTooBig, protocol.CloseReconnect, protocol.CloseSlowConsumer,
	protocol.CloseHeartbeatTimeout, protocol.CloseTokenExpired, protocol.CloseRateLimited,
	protocol.CloseConnectionLimit, protocol.CloseInternal, protocol.CloseBadRequest,
	protocol.CloseUnauthorized, protocol.CloseForbidden,
}

// latencyBuckets span a local delivery (about a millisecond, the
// resolution of publication times) to a backlog of seconds.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New creates Herald's metrics and registers them on reg, with
// herald_build_info describing info. It panics if they are already
// registered there, as prometheus.MustRegister does: that is a programming
// error, not a runtime condition.
func New(reg prometheus.Registerer, info BuildInfo) *Metrics {
	f := factory{reg}
	m := &Metrics{reg: reg}

	m.connections = f.gauge("herald_connections", "Client connections open now, connected or not yet.")
	m.connectionsOpened = f.counter("herald_connections_opened_total", "Client connections opened.")
	closed := f.counterVec("herald_connections_closed_total",
		"Client connections closed, by close code: the one the server sent, else the peer's, 1006 when none was, \"other\" for codes Herald does not define.", "code")
	m.closedByCode = make(map[protocol.CloseCode]prometheus.Counter, len(closeCodes))
	for _, code := range closeCodes {
		m.closedByCode[code] = closed.WithLabelValues(strconv.Itoa(int(code)))
	}
	m.closedOther = closed.WithLabelValues("other")

	in := f.counterVec("herald_messages_received_total",
		"Client commands received, by command type (\"unknown\" for others) and encoding.", "type", "encoding")
	out := f.counterVec("herald_messages_sent_total",
		"Messages queued to client connections, by push type (or reply) and encoding; a push to n connections counts n.", "type", "encoding")
	bytesIn := f.counterVec("herald_received_bytes_total", "Bytes of client frames received, by encoding.", "encoding")
	bytesOut := f.counterVec("herald_sent_bytes_total", "Bytes of frames written to client connections, by encoding.", "encoding")
	for e := range protocol.NumEncodings {
		enc := protocol.Encoding(e).String()
		m.messagesIn[e] = newLabelSet(in, commandTypes, enc)
		m.messagesOut[e] = newLabelSet(out, outTypes, enc)
		m.bytesIn[e] = bytesIn.WithLabelValues(enc)
		m.bytesOut[e] = bytesOut.WithLabelValues(enc)
	}

	m.deliveryLatency = f.histogram("herald_delivery_latency_seconds",
		"Time from a publication's broker timestamp to its frame being written to a client, sampled once per frame (its oldest publication). Across nodes it includes clock offset.",
		latencyBuckets)
	m.queueDepth = f.histogram("herald_write_queue_depth",
		"Messages waiting in a connection's write queue each time its writer takes a frame.",
		prometheus.ExponentialBuckets(1, 4, 8))
	m.slowConsumers = f.counter("herald_slow_consumer_disconnects_total",
		"Connections closed with 4001 because their write queue overflowed.")
	limited := f.counterVec("herald_rate_limited_total",
		"Commands and connections refused by a rate limit, by limit.", "limit")
	for l := range hub.NumLimits {
		m.rateLimited[l] = limited.WithLabelValues(l.String())
	}

	m.apiRequests = f.counterVec("herald_api_requests_total",
		"Server API requests, by API method (\"unknown\" for others) and HTTP status.", "method", "status")
	m.apiDuration = f.histogramVec("herald_api_request_duration_seconds",
		"Server API request latency, by API method.", prometheus.DefBuckets, "method")

	m.brokerDuration = f.histogramVec("herald_broker_operation_duration_seconds",
		"Broker operation latency, by engine and operation.",
		[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "engine", "operation")
	m.brokerErrors = f.counterVec("herald_broker_errors_total",
		"Broker operations that failed, by engine and operation.", "engine", "operation")

	m.consumers = newConsumerVecs(f)

	build := f.gaugeVec("herald_build_info",
		"Always 1; the labels describe the running binary.", "version", "goversion", "commit")
	build.WithLabelValues(orUnknown(info.Version), runtime.Version(), orUnknown(info.Commit)).Set(1)
	return m
}

func newLabelSet(v *prometheus.CounterVec, types []string, enc string) labelSet {
	l := labelSet{known: make(map[string]prometheus.Counter, len(types)), unknown: v.WithLabelValues("unknown", enc)}
	for _, t := range types {
		l.known[t] = v.WithLabelValues(t, enc)
	}
	return l
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// NewRegistry returns a registry with the Go runtime and process
// collectors, the usual companions of an application's own metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics in the Prometheus exposition formats. Errors
// while gathering are served as HTTP 500 rather than partial data.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// WatchHub registers the gauges read from h at scrape time: users,
// subscriptions and channels on this node.
func (m *Metrics) WatchHub(h *hub.Hub) error {
	return m.reg.Register(&hubCollector{h: h})
}

// APIRequest implements server.Observer.
func (m *Metrics) APIRequest(method string, status int, d time.Duration) {
	m.apiRequests.WithLabelValues(method, strconv.Itoa(status)).Inc()
	m.apiDuration.WithLabelValues(method).Observe(d.Seconds())
}

// RateLimited implements hub.Observer and server.Observer.
func (m *Metrics) RateLimited(l hub.Limit) {
	if l < hub.NumLimits {
		m.rateLimited[l].Inc()
	}
}
