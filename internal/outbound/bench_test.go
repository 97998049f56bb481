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

// BenchmarkWriteFrames is a fan-out writer's work for one Conn that
// collected a burst of live pushes while the round before ran: take the
// queue a frame at a time and hand each frame's parts to the transport,
// here a sink that takes everything. A Conn's own parts slice is kept only
// up to keptSlots messages, so the bursts above that are what the frame
// buffers' reuse is about.
func BenchmarkWriteFrames(b *testing.B) {
	for _, burst := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("64B/burst=%d", burst), func(b *testing.B) {
			msg := make([]byte, 64)
			var written int
			c := &Conn{}
			c.Init(Config{
				Writes: Writes{
					Frame: func([][]byte) error { return nil },
					TryFrame: func(parts [][]byte) (bool, error) {
						written += len(parts)
						return true, nil
					},
					Flush: func() error { return nil },
				},
				Events: quietEvents{}, MaxMessages: 1 << 20, MaxBytes: 1 << 30, Separator: []byte("\n"),
			})
			b.ReportAllocs()
			for b.Loop() {
				for i := range burst {
					r, claimed := c.PushLive(msg, 1)
					if r != Queued || claimed != (i == 0) {
						b.Fatalf("push %d: %v, claimed %v", i, r, claimed)
					}
				}
				if c.writeFrames(-1, true) {
					b.Fatal("the sink took everything, yet the writer has more")
				}
			}
			if want := b.N * (2*burst - 1); written != want {
				b.Fatalf("wrote %d parts, want %d", written, want)
			}
		})
	}
}

// quietEvents ignores what a Conn reports, so that a benchmark measures the
// Conn alone.
type quietEvents struct{}

func (quietEvents) FrameWritten(FrameStats) {}
func (quietEvents) Drained()                {}
func (quietEvents) WriteFailed(error)       {}
