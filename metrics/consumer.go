package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/consume"
)

// consumerVecs are the asynchronous consumers' metrics, labelled by
// consumer (kafka, outbox).
type consumerVecs struct {
	published *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	failures  *prometheus.CounterVec
	lag       *prometheus.GaugeVec
}

func newConsumerVecs(f factory) *consumerVecs {
	return &consumerVecs{
		published: f.counterVec("herald_consumer_published_total",
			"Records of an asynchronous consumer published into Herald, by consumer (kafka, outbox); a record read again counts again.", "consumer"),
		skipped: f.counterVec("herald_consumer_skipped_total",
			"Records an asynchronous consumer dropped because they can never be published, by consumer and reason (malformed, oversize, rejected).", "consumer", "reason"),
		failures: f.counterVec("herald_consumer_failures_total",
			"Failed attempts of an asynchronous consumer, retried: publications while Herald's engine fails, lost connections and failed commits at the source.", "consumer"),
		lag: f.gaugeVec("herald_consumer_lag",
			"Records waiting at an asynchronous consumer's source: Kafka, the assigned partitions' end offsets past what this node published; outbox, the rows in the table (counted up to 100000).", "consumer"),
	}
}

// consumerObserver is one consumer's metrics, their labels bound once.
type consumerObserver struct {
	published prometheus.Counter
	skipped   map[string]prometheus.Counter
	failures  prometheus.Counter
	lag       prometheus.Gauge
}

var _ consume.Observer = (*consumerObserver)(nil)

// Consumer returns the consume.Observer that feeds the metrics of the
// consumer named name: herald_consumer_published_total,
// herald_consumer_skipped_total, herald_consumer_failures_total and
// herald_consumer_lag.
func (m *Metrics) Consumer(name string) consume.Observer {
	v := m.consumers
	o := &consumerObserver{
		published: v.published.WithLabelValues(name),
		skipped:   make(map[string]prometheus.Counter, len(consume.Reasons)),
		failures:  v.failures.WithLabelValues(name),
		lag:       v.lag.WithLabelValues(name),
	}
	for _, r := range consume.Reasons {
		o.skipped[r] = v.skipped.WithLabelValues(name, r)
	}
	return o
}

func (o *consumerObserver) Published() { o.published.Inc() }

func (o *consumerObserver) Skipped(reason string) {
	if c, ok := o.skipped[reason]; ok {
		c.Inc()
	}
}

func (o *consumerObserver) Failed() { o.failures.Inc() }

func (o *consumerObserver) Lag(n int64) { o.lag.Set(float64(n)) }
