package config

import (
	"errors"
	"testing"
)

func TestValidateConsumers(t *testing.T) {
	valid := func() Config {
		c := Default()
		c.Token.HMACSecret = "0123456789abcdef0123456789abcdef"
		c.Consumers.Kafka.Enabled = true
		c.Consumers.Kafka.Topics = []string{"events", "orders=orders:all"}
		c.Consumers.Outbox.Enabled = true
		c.Consumers.Outbox.DSN = "postgres://herald@db/app"
		return c
	}
	if c := valid(); c.Validate() != nil {
		t.Fatalf("valid: %v", c.Validate())
	}
	cases := []struct {
		key    string
		mutate func(*Config)
	}{
		{"consumers.kafka.brokers", func(c *Config) { c.Consumers.Kafka.Brokers = nil }},
		{"consumers.kafka.brokers[0]", func(c *Config) { c.Consumers.Kafka.Brokers = []string{"kafka"} }},
		{"consumers.kafka.group", func(c *Config) { c.Consumers.Kafka.Group = "" }},
		{"consumers.kafka.topics", func(c *Config) { c.Consumers.Kafka.Topics = nil }},
		{"consumers.kafka.topics[1]", func(c *Config) { c.Consumers.Kafka.Topics = []string{"a", "a=chat:x"} }},
		{"consumers.kafka.topics[0]", func(c *Config) { c.Consumers.Kafka.Topics = []string{"a="} }},
		{"consumers.kafka.topics[0]", func(c *Config) { c.Consumers.Kafka.Topics = []string{"=chat:x"} }},
		{"consumers.kafka.sasl_mechanism", func(c *Config) { c.Consumers.Kafka.SASLMechanism = "gssapi" }},
		{"consumers.kafka.sasl_username", func(c *Config) { c.Consumers.Kafka.SASLMechanism = "plain" }},
		{"consumers.kafka.max_in_flight", func(c *Config) { c.Consumers.Kafka.MaxInFlight = 0 }},
		{"consumers.kafka.fetch_max_bytes", func(c *Config) { c.Consumers.Kafka.FetchMaxBytes = 2 << 30 }},
		{"consumers.outbox.dsn", func(c *Config) { c.Consumers.Outbox.DSN = "" }},
		{"consumers.outbox.table", func(c *Config) { c.Consumers.Outbox.Table = "a.b.c" }},
		{"consumers.outbox.partitions", func(c *Config) { c.Consumers.Outbox.Partitions = -1 }},
		{"consumers.outbox.poll_interval", func(c *Config) { c.Consumers.Outbox.PollInterval = 0 }},
	}
	for _, tc := range cases {
		c := valid()
		tc.mutate(&c)
		var e *Error
		if err := c.Validate(); !errors.As(err, &e) || e.Key != tc.key {
			t.Errorf("want a problem with %s, got %v", tc.key, err)
		}
	}
	if topic, channel := KafkaTopic(" orders = orders:all "); topic != "orders" || channel != "orders:all" {
		t.Errorf("KafkaTopic: %q %q", topic, channel)
	}
}
