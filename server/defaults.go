package server

import (
	"log/slog"
	"time"
)

// DefaultConfig returns the defaults New gives the fields of a Config left
// zero, as each field's comment states them: a library user may start from
// it, and the herald binary's tests check that its default configuration
// file agrees. Logger and Observer are nil, which New replaces with a
// discarding logger and no observer.
func DefaultConfig() Config {
	return Config{
		MaxMessageSize:          65536,
		MaxConnections:          100000,
		MaxConnectionsPerIP:     1000,
		ConnectRatePerIP:        20,
		ConnectBurstPerIP:       50,
		MaxHTTPConnections:      2048,
		MaxHTTPConnectionsPerIP: 128,
		APIBodySize:             1 << 20,
		ReadHeaderTimeout:       5 * time.Second,
		RequestBodyTimeout:      10 * time.Second,
		HandshakeTimeout:        10 * time.Second,
		WriteTimeout:            10 * time.Second,
		EchoConnectTimeout:      10 * time.Second,
		EchoIdleTimeout:         35 * time.Second,
		MaxFrameCommands:        100,
		StreamQueueLength:       16,
	}
}

// setDefaults fills the fields left zero (or negative) from DefaultConfig.
func (c *Config) setDefaults() {
	d := DefaultConfig()
	positive(&c.MaxMessageSize, d.MaxMessageSize)
	positive(&c.MaxConnections, d.MaxConnections)
	positive(&c.MaxConnectionsPerIP, d.MaxConnectionsPerIP)
	// A negative rate turns the limit off: only zero takes the default.
	if c.ConnectRatePerIP == 0 {
		c.ConnectRatePerIP = d.ConnectRatePerIP
	}
	positive(&c.ConnectBurstPerIP, d.ConnectBurstPerIP)
	positive(&c.MaxHTTPConnections, d.MaxHTTPConnections)
	positive(&c.MaxHTTPConnectionsPerIP, d.MaxHTTPConnectionsPerIP)
	positive(&c.APIBodySize, d.APIBodySize)
	positive(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	positive(&c.RequestBodyTimeout, d.RequestBodyTimeout)
	positive(&c.HandshakeTimeout, d.HandshakeTimeout)
	positive(&c.WriteTimeout, d.WriteTimeout)
	positive(&c.EchoConnectTimeout, d.EchoConnectTimeout)
	positive(&c.EchoIdleTimeout, d.EchoIdleTimeout)
	positive(&c.MaxFrameCommands, d.MaxFrameCommands)
	positive(&c.StreamQueueLength, d.StreamQueueLength)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
}

// positive sets *v to def unless it is positive.
func positive[T ~int | ~int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
