package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/consume"
	"github.com/heraldhq/herald/consume/kafka"
	"github.com/heraldhq/herald/consume/outbox"
	"github.com/heraldhq/herald/metrics"
)

// consumers are the asynchronous consumers serve runs: built before the
// listener is bound (a bad setting fails the start), run once it is, and
// stopped before the hub drains, so that they publish nothing into a hub
// that is shutting down.
type consumers struct {
	log    *slog.Logger
	runs   map[string]func(context.Context) error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newConsumers builds the consumers cfg enables, publishing through p; m
// may be nil (metrics off).
func newConsumers(cfg config.Consumers, p consume.Publisher, m *metrics.Metrics, log *slog.Logger) (*consumers, error) {
	c := &consumers{log: log, runs: make(map[string]func(context.Context) error)}
	observer := func(name string) consume.Observer {
		if m == nil {
			return consume.NopObserver{}
		}
		return m.Consumer(name)
	}
	if k := cfg.Kafka; k.Enabled {
		kc := kafka.Config{
			Brokers:        k.Brokers,
			Group:          k.Group,
			MaxPollRecords: k.MaxInFlight,
			FetchMaxBytes:  int32(k.FetchMaxBytes),
			MaxDataSize:    k.MaxDataSize,
			Publisher:      p,
			Observer:       observer("kafka"),
			Logger:         log,
		}
		for _, e := range k.Topics {
			topic, channel := config.KafkaTopic(e)
			kc.Topics = append(kc.Topics, kafka.Topic{Name: topic, Channel: channel})
		}
		if k.UseTLS {
			kc.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		kc.SASL = saslMechanism(k)
		kafkaConsumer, err := kafka.New(kc)
		if err != nil {
			return nil, &config.Error{Key: "consumers.kafka", Problem: err.Error()}
		}
		c.runs["kafka"] = kafkaConsumer.Run
	}
	if o := cfg.Outbox; o.Enabled {
		oc, err := outbox.New(outbox.Config{
			DSN:           o.DSN,
			Table:         o.Table,
			CreateTable:   o.CreateTable,
			NotifyChannel: o.NotifyChannel,
			Partitions:    o.Partitions,
			Workers:       o.Workers,
			BatchSize:     o.BatchSize,
			PollInterval:  o.PollInterval,
			MaxDataSize:   o.MaxDataSize,
			Publisher:     p,
			Observer:      observer("outbox"),
			Logger:        log,
		})
		if err != nil {
			return nil, &config.Error{Key: "consumers.outbox", Problem: err.Error()}
		}
		c.runs["outbox"] = oc.Run
	}
	return c, nil
}

func saslMechanism(k config.KafkaConsumer) sasl.Mechanism {
	switch k.SASLMechanism {
	case "plain":
		return plain.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsMechanism()
	case "scram-sha-256":
		return scram.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsSha256Mechanism()
	case "scram-sha-512":
		return scram.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsSha512Mechanism()
	}
	return nil
}

// start runs the consumers until stop.
func (c *consumers) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for name, run := range c.runs {
		c.log.Info("consumer started", "consumer", name)
		c.wg.Go(func() {
			if err := run(ctx); err != nil {
				c.log.Error("consumer stopped", "consumer", name, "err", err)
			}
		})
	}
}

// stop stops the consumers and waits for them, at most until ctx ends:
// each finishes the records in hand (what was published is committed or
// deleted; the rest is read again on the next start).
func (c *consumers) stop(ctx context.Context) error {
	if c == nil || c.cancel == nil {
		return nil
	}
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("consumers: %w", ctx.Err())
	}
}
