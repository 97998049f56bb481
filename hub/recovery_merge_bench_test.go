package hub

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/outbound"
	"github.com/heraldhq/herald/protocol"
)

// BenchmarkRecoveryMerge is the hub's half of recovery after the history
// read: live pushes that arrived while the subscribe was in flight are held,
// then merged behind the recovered position, dropping the half that history
// already covered. Its cost should be linear in what was held.
func BenchmarkRecoveryMerge(b *testing.B) {
	const epoch = "a1b2c3d4e5f60718"
	msg := []byte(`{"push":{"channel":"bench","pub":{"offset":1,"data":{}}}}`)
	for _, held := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(held), func(b *testing.B) {
			// History ends halfway through what was held.
			pos := protocol.StreamPosition{Offset: uint64(1000 + held/2), Epoch: epoch}
			var unit []outbound.Entry
			h := &Hub{cfg: Config{WriteQueueMessages: 1 << 20, WriteQueueBytes: 1 << 30}}
			c := &Client{hub: h}
			b.ReportAllocs()
			for b.Loop() {
				s := &subscription{client: c, channel: "bench"}
				for i := range held {
					s.deliver(uint64(1000+i+1), epoch, outbound.NewShared(msg), 0)
				}
				s.mu.Lock()
				unit, _, _, _ = s.activate(pos, false, unit[:0])
				s.mu.Unlock()
				if len(unit) != held-held/2 {
					b.Fatalf("merged %d pushes, want %d", len(unit), held-held/2)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*held), "ns/held")
		})
	}
}
