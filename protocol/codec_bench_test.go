package protocol

import (
	"encoding/json"
	"testing"
)

// The benchmarks run each operation in both encodings so that one run gives
// the ratio; wire-bytes reports the encoded size of the message.

var benchPub = &Publication{
	Offset: 12345,
	Data:   []byte(`{"text":"hello, world","n":42}`),
	Info:   &ClientInfo{User: "alice", Client: "b7Vq1yS3QmS4t2Xx9Zc0ww"},
	Time:   1764000000000,
}

var benchCommand = &Command{ID: 12, Type: TypePublish, Channel: "chat:room-1", Data: json.RawMessage(`{"text":"hello, world","n":42}`)}

func BenchmarkAppendMessagePush(b *testing.B) {
	for _, enc := range encodings {
		b.Run(enc.String(), func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				buf = enc.AppendMessagePush(buf[:0], "chat:room-1", benchPub)
			}
			b.ReportMetric(float64(len(buf)), "wire-bytes")
		})
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	for _, enc := range encodings {
		b.Run(enc.String(), func(b *testing.B) {
			frame, _ := enc.AppendCommand(nil, benchCommand)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				_ = enc.DecodeFrame(frame, func(*Command) error { return nil })
			}
			b.ReportMetric(float64(len(frame)), "wire-bytes")
		})
	}
}

func BenchmarkAppendReply(b *testing.B) {
	res := &PublishResult{Offset: 12345, Epoch: "a1b2c3d4e5f60718"}
	for _, enc := range encodings {
		b.Run(enc.String(), func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = enc.AppendReply(buf[:0], 7, TypePublish, res)
			}
			b.ReportMetric(float64(len(buf)), "wire-bytes")
		})
	}
}

// BenchmarkDecodeMessagePush is the client's side of the hot path.
func BenchmarkDecodeMessagePush(b *testing.B) {
	for _, enc := range encodings {
		b.Run(enc.String(), func(b *testing.B) {
			frame := enc.AppendMessagePush(nil, "chat:room-1", benchPub)
			b.ReportAllocs()
			for b.Loop() {
				_ = enc.DecodeServerFrame(frame, func(*ServerMessage) error { return nil })
			}
		})
	}
}

func BenchmarkAppendCommand(b *testing.B) {
	for _, enc := range encodings {
		b.Run(enc.String(), func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = enc.AppendCommand(buf[:0], benchCommand)
			}
		})
	}
}
