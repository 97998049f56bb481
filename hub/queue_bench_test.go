package hub

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/protocol"
)

// BenchmarkWriteQueueCoalesce queues a burst of messages behind a busy
// writer and drains it the way the writer does, one take per frame: the
// queue's cost per message, and how many messages share a frame (the fewer
// frames, the fewer WebSocket headers and syscalls). The writer here does
// not write, so the numbers are the queue's alone.
func BenchmarkWriteQueueCoalesce(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 16 << 10} {
		for _, burst := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%dB/burst=%d", size, burst), func(b *testing.B) {
				msg := make([]byte, size)
				// flush does nothing: take below plays the writer, so that
				// the burst piles up exactly as behind a slow socket.
				q := &writeQueue{maxItems: 1 << 20, maxBytes: 1 << 30, flush: func() {}}
				frames, msgs := 0, 0
				b.ReportAllocs()
				for b.Loop() {
					for range burst {
						if q.push(msg) != queued {
							b.Fatal("queue overflowed")
						}
					}
					for {
						batch, _, _, stop := q.take()
						if stop {
							break
						}
						frames++
						msgs += len(batch)
					}
				}
				if msgs != b.N*burst {
					b.Fatalf("took %d messages, want %d", msgs, b.N*burst)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
				b.ReportMetric(float64(msgs)/float64(frames), "msgs/frame")
			})
		}
	}
}

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
			var unit []entry
			c := &Client{}
			c.queue = writeQueue{maxItems: 1 << 20, maxBytes: 1 << 30}
			b.ReportAllocs()
			for b.Loop() {
				s := &subscription{client: c, channel: "bench"}
				for i := range held {
					s.deliver(uint64(1000+i+1), epoch, msg, 0)
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
