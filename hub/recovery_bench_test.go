package hub_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// BenchmarkSubscribeRecover is recovery end to end on one connection: a
// subscribe with since that returns the publications the client missed
// (history read, merge, reply encoded and written), then an unsubscribe so
// the next iteration can subscribe again. Its ns/publication should fall as
// more is recovered at once.
func BenchmarkSubscribeRecover(b *testing.B) {
	for _, enc := range []protocol.Encoding{protocol.JSON, protocol.Protobuf} {
		for _, missed := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/%d", enc, missed), func(b *testing.B) {
				benchSubscribeRecover(b, enc, missed)
			})
		}
	}
}

func benchSubscribeRecover(b *testing.B, enc protocol.Encoding, missed int) {
	h, _ := benchHub(b, 0, true, nil)
	ctx := context.Background()
	var last protocol.PublishResult
	for range 100 {
		res, err := h.Publish(ctx, "recover", []byte(`{"text":"hello, world","n":42}`), "")
		if err != nil {
			b.Fatal(err)
		}
		last = res
	}
	t := &keepFirst{enc: enc}
	c := h.NewClient(t, enc, hub.Peer{Remote: "bench"})
	replies := &t.messages
	connect, _ := enc.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
	c.HandleFrame(connect)
	since := &protocol.StreamPosition{Offset: last.Offset - uint64(missed), Epoch: last.Epoch}
	frame, _ := enc.AppendCommand(nil, &protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: "recover", Since: since})
	frame = append(frame, enc.Separator()...)
	frame, _ = enc.AppendCommand(frame, &protocol.Command{ID: 3, Type: protocol.TypeUnsubscribe, Channel: "recover"})
	// One round outside the timing proves the subscribe recovers.
	c.HandleFrame(frame)
	want := int64(3)
	for replies.Load() < want {
	}
	checkRecovered(b, enc, t.first, missed)
	b.ReportAllocs()
	for b.Loop() {
		c.HandleFrame(frame)
		want += 2
		for replies.Load() < want {
			if t.closed.Load() {
				b.Fatal("connection closed")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*missed), "ns/publication")
}

// keepFirst is a sink that also keeps the frames of the first few
// messages, for checking the replies before timing starts.
type keepFirst struct {
	enc      protocol.Encoding
	messages atomic.Int64
	closed   atomic.Bool
	mu       sync.Mutex
	first    [][]byte
}

func (k *keepFirst) Writes() hub.Writes { return hub.Writes{Frame: k.WriteFrame} }

func (k *keepFirst) WriteFrame(parts [][]byte) error {
	if k.messages.Load() < 3 {
		var frame []byte
		for _, p := range parts {
			frame = append(frame, p...)
		}
		k.mu.Lock()
		k.first = append(k.first, frame)
		k.mu.Unlock()
	}
	return sink{&k.messages, k.enc}.WriteFrame(parts)
}

func (k *keepFirst) Close(protocol.CloseCode, string) { k.closed.Store(true) }

// checkRecovered finds the subscribe reply among frames and fails unless it
// recovered exactly missed publications.
func checkRecovered(b *testing.B, enc protocol.Encoding, frames [][]byte, missed int) {
	b.Helper()
	for _, f := range frames {
		var res *protocol.SubscribeResult
		err := enc.DecodeServerFrame(f, func(m *protocol.ServerMessage) error {
			if m.ID == 2 {
				res = &protocol.SubscribeResult{}
				return m.DecodeResult(res)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if res != nil {
			if res.Recovered == nil || !*res.Recovered || len(res.Publications) != missed {
				b.Fatalf("subscribe reply: recovered %v, %d publications, want %d", res.Recovered, len(res.Publications), missed)
			}
			return
		}
	}
	b.Fatal("no subscribe reply")
}
