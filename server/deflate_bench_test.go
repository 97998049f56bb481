package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/server"
)

// BenchmarkDeflateFanout publishes to 100 subscribers over real sockets,
// each of which negotiated permessage-deflate or not, for a chat message
// (about 150 bytes of JSON, under the default threshold) and a 4 KB JSON
// document, and reports the bytes on the wire per delivery (frame headers
// included) and the time per delivery (ns/op is per publication: divide
// by 100). The subscribers read every byte as it comes and count frames.
func BenchmarkDeflateFanout(b *testing.B) {
	const subs = 100
	chat := []byte(`{"user":"ada","client":"k3Jd9sLq","text":"Are we still on for the review at three? I moved it to the small room.","ts":1718000000000}`)
	doc := []byte(`{"items":[` + string(jsonish(0)))
	for len(doc) < 4000 {
		doc = append(doc, fmt.Sprintf(`{"id":%d,"name":"item %d","tags":["a","b"],"price":%d.%02d,"stock":%d},`, len(doc), len(doc)%97, len(doc)%500, len(doc)%100, len(doc)%13)...)
	}
	doc = append(doc[:len(doc)-1], "]}"...)
	for _, payload := range []struct {
		name string
		data []byte
	}{{"chat", chat}, {"doc4k", doc}} {
		for _, compress := range []bool{false, true} {
			name := payload.name + "/plain"
			if compress {
				name = payload.name + "/deflate"
			}
			b.Run(name, func(b *testing.B) {
				s := ht.Start(b, ht.Options{Server: server.Config{Compression: true, ConnectRatePerIP: -1}})
				var offer []string
				if compress {
					offer = []string{"permessage-deflate"}
				}
				var wire, delivered atomic.Int64
				for i := range subs {
					c := dialRaw(b, s.Addr(), "/ws", offer...)
					rawSub(b, c, ht.Token(b, fmt.Sprint("u", i), nil), "bench")
					_ = c.conn.SetDeadline(time.Time{})
					go func() {
						var p []byte
						for {
							h, err := ws.ReadHeader(c.br)
							if err != nil {
								return
							}
							p = slices.Grow(p[:0], int(h.Length))[:h.Length]
							if _, err := io.ReadFull(c.br, p); err != nil {
								return
							}
							wire.Add(h.Length + 2)
							if h.Length >= 126 {
								wire.Add(2)
							}
							n := int64(1) // a compressed frame holds one message
							if h.Rsv == 0 {
								n += int64(bytes.Count(p, []byte("\n")))
							}
							delivered.Add(n)
						}
					}()
				}
				ctx := context.Background()
				b.ResetTimer()
				for b.Loop() {
					if _, err := s.Hub.Publish(ctx, "bench", payload.data, ""); err != nil {
						b.Fatal(err)
					}
				}
				want := int64(b.N) * subs
				wait.For(b, 30*time.Second, func() error {
					if n := delivered.Load(); n < want {
						return fmt.Errorf("%d of %d deliveries read", n, want)
					}
					return nil
				})
				b.StopTimer()
				b.ReportMetric(float64(wire.Load())/float64(delivered.Load()), "wireB/delivery")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
			})
		}
	}
}
