package stream_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// BenchmarkDelivery publishes b.N messages of 128 bytes on the hub to a
// channel that one client follows, over each transport, and waits until
// the client has read them all: ns/op is per delivery, wire-B/op the bytes
// the client read per delivery (the response body after dechunking, or
// the WebSocket messages' payload).
func BenchmarkDelivery(b *testing.B) {
	for _, transport := range []string{"ws", "sse", "ndjson"} {
		b.Run(transport, func(b *testing.B) {
			s := ht.Start(b, ht.Options{Hub: hub.Config{WriteQueueMessages: 1 << 20, WriteQueueBytes: 1 << 30, MaxOutgoingBytes: -1}})
			tok := ht.Token(b, "u", map[string]any{"subs": []string{"news:bench"}})
			var msgs, wire atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			switch transport {
			case "ws":
				c, _, err := websocket.Dial(ctx, s.WSURL, nil)
				if err != nil {
					b.Fatal(err)
				}
				c.SetReadLimit(-1)
				if err := c.Write(ctx, websocket.MessageText, []byte(`{"id":1,"type":"connect","token":"`+tok+`"}`)); err != nil {
					b.Fatal(err)
				}
				go func() {
					defer close(done)
					for {
						_, data, err := c.Read(ctx)
						if err != nil {
							return
						}
						wire.Add(int64(len(data)))
						msgs.Add(int64(bytes.Count(data, []byte(`"type":"message"`))))
					}
				}()
				defer c.CloseNow()
			default:
				path := "/sse"
				if transport == "ndjson" {
					path = "/stream"
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path+"?connect="+url.QueryEscape(`{"type":"connect","token":"`+tok+`"}`), nil)
				hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
				defer hc.CloseIdleConnections()
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				go func() {
					defer close(done)
					buf := make([]byte, 64<<10)
					var tail []byte
					for {
						n, err := resp.Body.Read(buf)
						wire.Add(int64(n))
						// Count across read boundaries.
						chunk := append(tail, buf[:n]...)
						msgs.Add(int64(bytes.Count(chunk, []byte(`"type":"message"`))))
						if len(chunk) > 32 {
							tail = append(tail[:0], chunk[len(chunk)-15:]...)
						} else {
							tail = append(tail[:0], chunk...)
						}
						if err == io.EOF || err != nil {
							return
						}
					}
				}()
			}
			ht.Eventually(b, 5*time.Second, func() bool { return s.Hub.Info().Subs == 1 }, "subscribed")
			data := []byte(`"` + strings.Repeat("x", 126) + `"`)
			start := wire.Load()
			b.ResetTimer()
			for range b.N {
				if _, err := s.Hub.Publish(ctx, "news:bench", data, ""); err != nil {
					b.Fatal(err)
				}
			}
			for msgs.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(wire.Load()-start)/float64(b.N), "wire-B/op")
			cancel()
			<-done
		})
	}
}
