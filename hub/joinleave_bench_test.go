package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// countingSink is a Transport that counts the messages written to it and,
// apart, the sentinel publication.
type countingSink struct {
	messages, sentinels *atomic.Int64
}

func (s countingSink) Writes() hub.Writes { return hub.Writes{Frame: s.WriteFrame} }

func (s countingSink) WriteFrame(parts [][]byte) error {
	for _, p := range parts {
		if len(p) > 1 {
			s.messages.Add(1)
			if bytes.Contains(p, []byte("sentinel")) {
				s.sentinels.Add(1)
			}
		}
	}
	return nil
}

func (s countingSink) Close(protocol.CloseCode, string) {}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJoinLeaveToggle is connections toggling their subscription to a
// channel of 1,000 subscribers: the CPU one join or leave costs the node,
// its writers included, without the join/leave rate and with the default.
func BenchmarkJoinLeaveToggle(b *testing.B) {
	const subscribers, togglers = 1000, 20
	for _, tc := range []struct {
		name string
		rate float64
	}{{"unlimited", -1}, {"default", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			br := memory.New(memory.Options{})
			defer br.Close()
			h := hub.New(hub.Config{
				Anonymous:          true,
				Namespaces:         map[string]hub.Namespace{"": {Presence: true, JoinLeave: true, AllowPublish: hub.AccessAny}},
				WriteQueueMessages: 1 << 20,
				WriteQueueBytes:    1 << 30,
				CommandRate:        1e12,
				CommandBurst:       1 << 30,
				JoinLeaveRate:      tc.rate,
			}, br, nil)
			if err := h.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_ = h.Shutdown(ctx)
			}()
			var messages, sentinels atomic.Int64
			for range subscribers {
				c := h.NewClient(countingSink{&messages, &sentinels}, protocol.JSON, hub.Peer{Remote: "bench"})
				c.HandleFrame([]byte(`{"id":1,"type":"connect"}` + "\n" + `{"id":2,"type":"subscribe","channel":"room"}`))
			}
			// The replies. With the default rate, most of the subscribers'
			// own joins are still held, and keep going out at the rate
			// while the benchmark runs: part of what it measures.
			for messages.Load() < 2*subscribers {
			}
			messages.Store(0)
			infos := make([]*broker.ClientInfo, togglers)
			for i := range infos {
				infos[i] = &broker.ClientInfo{User: "t", Client: fmt.Sprint("toggler-", i)}
			}
			b.ResetTimer()
			start := cpuTime()
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					h.HandleJoin("room", infos[i/2%togglers])
				} else {
					h.HandleLeave("room", infos[i/2%togglers])
				}
			}
			// Once every subscriber has the sentinel, everything sent
			// before it is written.
			if _, err := h.Publish(context.Background(), "room", []byte(`"sentinel"`), ""); err != nil {
				b.Fatal(err)
			}
			for sentinels.Load() < subscribers {
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/event")
			b.ReportMetric(float64(messages.Load()-subscribers)/float64(b.N), "pushes/event")
		})
	}
}
