package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Consumers publish into Herald what the application writes elsewhere:
// records of Kafka topics, rows of a PostgreSQL outbox table. Both are off
// by default. See docs/INTEGRATIONS.md.
type Consumers struct {
	// Kafka consumes Kafka topics.
	Kafka KafkaConsumer `yaml:"kafka"`
	// Outbox consumes a PostgreSQL outbox table.
	Outbox OutboxConsumer `yaml:"outbox"`
}

// KafkaConsumer configures the Kafka consumer.
type KafkaConsumer struct {
	// Enabled runs the consumer. Default false.
	Enabled bool `yaml:"enabled"`
	// Brokers are the seed brokers, host:port. Default ["127.0.0.1:9092"].
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group; every node uses the same one, so that
	// each record is read by one node. Default "herald".
	Group string `yaml:"group"`
	// Topics lists the topics to consume: "topic", whose records each
	// name their channel (the herald-channel header or the JSON envelope),
	// or "topic=channel", whose records' values are all published to
	// channel as they are. Default none.
	Topics []string `yaml:"topics"`
	// MaxInFlight caps the records taken from the client at once. Default
	// 500.
	MaxInFlight int `yaml:"max_in_flight"`
	// FetchMaxBytes caps what one fetch returns, and so what is buffered
	// ahead per broker. Default 4194304.
	FetchMaxBytes int `yaml:"fetch_max_bytes"`
	// MaxDataSize caps a record's data in bytes; larger records are
	// skipped. Default 65536.
	MaxDataSize int `yaml:"max_data_size"`
	// UseTLS connects to the brokers over TLS, verified against the
	// system's roots. Default false.
	UseTLS bool `yaml:"tls"`
	// SASLMechanism authenticates to the brokers: "" (none), plain,
	// scram-sha-256 or scram-sha-512. Default "".
	SASLMechanism string `yaml:"sasl_mechanism"`
	// SASLUsername is the SASL user. Default "".
	SASLUsername string `yaml:"sasl_username"`
	// SASLPassword is the SASL password; better set through
	// HERALD_CONSUMERS_KAFKA_SASL_PASSWORD. Default "".
	SASLPassword string `yaml:"sasl_password"`
}

// OutboxConsumer configures the PostgreSQL outbox consumer.
type OutboxConsumer struct {
	// Enabled runs the consumer. Default false.
	Enabled bool `yaml:"enabled"`
	// DSN is the PostgreSQL connection string, a URL or key=value pairs;
	// better set through HERALD_CONSUMERS_OUTBOX_DSN, as it may hold a
	// password. Default "".
	DSN string `yaml:"dsn"`
	// Table is the outbox table, optionally schema-qualified. Default
	// "herald_outbox".
	Table string `yaml:"table"`
	// CreateTable creates the table, and a trigger that notifies
	// NotifyChannel on inserts, when they do not exist. Default false.
	CreateTable bool `yaml:"create_table"`
	// NotifyChannel is the channel the consumer LISTENs on for new rows.
	// Default "herald_outbox".
	NotifyChannel string `yaml:"notify_channel"`
	// Partitions splits the rows by a hash of their channel; each
	// partition is worked on by one node at a time, which keeps a
	// channel's order. Every node must use the same value. Default 16.
	Partitions int `yaml:"partitions"`
	// Workers is how many partitions this node works on at a time, each
	// with a database connection. Default 4.
	Workers int `yaml:"workers"`
	// BatchSize is how many rows a worker claims at once. Default 100.
	BatchSize int `yaml:"batch_size"`
	// PollInterval is how often the table is read when no notification
	// came. Default 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxDataSize caps a row's data in bytes; larger rows are skipped and
	// deleted. Default 65536.
	MaxDataSize int `yaml:"max_data_size"`
}

// KafkaTopic splits a consumers.kafka.topics entry into the topic and the
// channel it is mapped to ("" when none).
func KafkaTopic(entry string) (topic, channel string) {
	topic, channel, _ = strings.Cut(entry, "=")
	return strings.TrimSpace(topic), strings.TrimSpace(channel)
}

func (c *Consumers) validate() error {
	k := &c.Kafka
	if k.Enabled {
		if len(k.Brokers) == 0 {
			return problem("consumers.kafka.brokers", "at least one broker")
		}
		for i, b := range k.Brokers {
			if _, _, err := net.SplitHostPort(b); err != nil {
				return problem(fmt.Sprintf("consumers.kafka.brokers[%d]", i), "not host:port: %q", b)
			}
		}
		if k.Group == "" {
			return problem("consumers.kafka.group", "must not be empty")
		}
		if len(k.Topics) == 0 {
			return problem("consumers.kafka.topics", "at least one topic")
		}
		seen := make(map[string]bool)
		for i, e := range k.Topics {
			topic, channel := KafkaTopic(e)
			key := fmt.Sprintf("consumers.kafka.topics[%d]", i)
			if topic == "" || strings.Contains(e, "=") && channel == "" {
				return problem(key, "not \"topic\" or \"topic=channel\": %q", e)
			}
			if seen[topic] {
				return problem(key, "topic %q listed twice", topic)
			}
			seen[topic] = true
		}
		switch k.SASLMechanism {
		case "", "plain", "scram-sha-256", "scram-sha-512":
		default:
			return problem("consumers.kafka.sasl_mechanism", "%q is not one of plain, scram-sha-256, scram-sha-512", k.SASLMechanism)
		}
		if k.SASLMechanism != "" && k.SASLUsername == "" {
			return problem("consumers.kafka.sasl_username", "required with sasl_mechanism")
		}
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"consumers.kafka.max_in_flight", k.MaxInFlight},
		{"consumers.kafka.fetch_max_bytes", k.FetchMaxBytes},
		{"consumers.kafka.max_data_size", k.MaxDataSize},
		{"consumers.outbox.partitions", c.Outbox.Partitions},
		{"consumers.outbox.workers", c.Outbox.Workers},
		{"consumers.outbox.batch_size", c.Outbox.BatchSize},
		{"consumers.outbox.max_data_size", c.Outbox.MaxDataSize},
	} {
		if f.v <= 0 {
			return problem(f.key, "must be positive")
		}
	}
	if k.FetchMaxBytes > 1<<30 {
		return problem("consumers.kafka.fetch_max_bytes", "at most 1073741824")
	}
	o := &c.Outbox
	if o.PollInterval <= 0 {
		return problem("consumers.outbox.poll_interval", "must be positive")
	}
	if o.Enabled {
		if o.DSN == "" {
			return problem("consumers.outbox.dsn", "required (better: HERALD_CONSUMERS_OUTBOX_DSN)")
		}
		if o.Table == "" || strings.Count(o.Table, ".") > 1 {
			return problem("consumers.outbox.table", "not a table or schema.table: %q", o.Table)
		}
		if o.NotifyChannel == "" {
			return problem("consumers.outbox.notify_channel", "must not be empty")
		}
	}
	return nil
}
