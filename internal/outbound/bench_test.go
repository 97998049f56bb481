package outbound

import (
	"fmt"
	"testing"
)

// BenchmarkCoalesce queues a burst of messages behind a busy writer and
// drains it the way the writer does, one take per frame: the queue's cost
// per message, and how many messages share a frame (the fewer frames, the
// fewer WebSocket headers and syscalls). The writer here does not write,
// so the numbers are the queue's alone.
func BenchmarkCoalesce(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 16 << 10} {
		for _, burst := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%dB/burst=%d", size, burst), func(b *testing.B) {
				msg := make([]byte, size)
				// The benchmark plays the writer, so that the burst piles
				// up exactly as behind a slow socket.
				c, _, _ := newTestConn(1<<20, 1<<30)
				playWriter(c)
				frames, msgs := 0, 0
				b.ReportAllocs()
				for b.Loop() {
					for range burst {
						if c.Push(msg) != Queued {
							b.Fatal("queue overflowed")
						}
					}
					for {
						batch, _, stop := takeOne(c)
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
