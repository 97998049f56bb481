package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The benchmarks here complete codec_bench_test.go's along the axes it
// fixes: payload size, a frame carrying many commands, and a subscribe
// reply carrying recovered publications. Sizes are the payload's; MB/s is
// payload throughput.

var benchSizes = []int{64, 1 << 10, 16 << 10}

// jsonPayload returns a JSON object of exactly n bytes, valid in both
// encodings (Protobuf carries it as opaque bytes).
func jsonPayload(n int) []byte {
	const frame = `{"text":""}`
	return []byte(`{"text":"` + strings.Repeat("x", n-len(frame)) + `"}`)
}

// BenchmarkMessagePushSize encodes one publication push: the work done
// once per publication and encoding on the fan-out path.
func BenchmarkMessagePushSize(b *testing.B) {
	for _, enc := range encodings {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%dB", enc, size), func(b *testing.B) {
				pub := *benchPub
				pub.Data = jsonPayload(size)
				var buf []byte
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					buf = enc.AppendMessagePush(buf[:0], "chat:room-1", &pub)
				}
				b.ReportMetric(float64(len(buf)-size), "overhead-bytes")
			})
		}
	}
}

// BenchmarkDecodePublishSize decodes one publish command: the work done
// once per incoming publication.
func BenchmarkDecodePublishSize(b *testing.B) {
	for _, enc := range encodings {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%dB", enc, size), func(b *testing.B) {
				cmd := *benchCommand
				cmd.Data = json.RawMessage(jsonPayload(size))
				frame, err := enc.AppendCommand(nil, &cmd)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := enc.DecodeFrame(frame, func(*Command) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeBatch decodes a frame of 100 small publish commands, as a
// client that batches sends them: ns/command should fall well below
// BenchmarkDecodeFrame's single command.
func BenchmarkDecodeBatch(b *testing.B) {
	const n = 100
	for _, enc := range encodings {
		b.Run(enc.String(), func(b *testing.B) {
			var frame []byte
			for i := range n {
				if i > 0 {
					frame = append(frame, enc.Separator()...)
				}
				cmd := *benchCommand
				cmd.ID = uint32(i + 1)
				var err error
				if frame, err = enc.AppendCommand(frame, &cmd); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				count := 0
				if err := enc.DecodeFrame(frame, func(*Command) error { count++; return nil }); err != nil || count != n {
					b.Fatalf("decoded %d commands, %v", count, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/command")
		})
	}
}

// BenchmarkRecoveryReply encodes a subscribe reply carrying the
// publications a reconnecting client missed: the encoding half of
// recovery, per recovered publication.
func BenchmarkRecoveryReply(b *testing.B) {
	for _, enc := range encodings {
		for _, missed := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/%d", enc, missed), func(b *testing.B) {
				res := &SubscribeResult{Offset: 12345, Epoch: "a1b2c3d4e5f60718", Recovered: boolPtr(true)}
				for i := range missed {
					pub := *benchPub
					pub.Offset = uint64(12345 - missed + i + 1)
					res.Publications = append(res.Publications, &pub)
				}
				var buf []byte
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if buf, err = enc.AppendReply(buf[:0], 3, TypeSubscribe, res); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*missed), "ns/publication")
			})
		}
	}
}
