package hub

import (
	"context"
	"testing"
	"time"
)

// BenchmarkBrokerContext: the context of one command's broker call, made on
// every core at once. From the hub's context directly, every one registers
// with that one parent under its lock; from a shard, with one of sixteen.
func BenchmarkBrokerContext(b *testing.B) {
	var l lifetime
	l.init()
	defer l.stop()
	for _, bc := range []struct {
		name   string
		parent func() context.Context
	}{
		{"root", func() context.Context { return l.ctx }},
		{"sharded", l.shard},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, cancel := context.WithTimeout(bc.parent(), time.Second)
					cancel()
				}
			})
		})
	}
}
