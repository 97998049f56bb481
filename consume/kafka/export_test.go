package kafka

import "github.com/twmb/franz-go/pkg/kgo"

// WithOpts adds client options, for tests (fast group timeouts).
func (c Config) WithOpts(opts ...kgo.Opt) Config {
	c.opts = append(c.opts, opts...)
	return c
}
