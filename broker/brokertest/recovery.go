package brokertest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

// testRecoveryRace is the hub's subscribe-with-recovery sequence under load:
// subscribe, read history since the client's position, then merge with
// what is delivered live, taking live publications only past the position
// history returned. Every offset must come out exactly once, whichever way
// the publishers interleave with the subscribe and the read.
func testRecoveryRace(t *testing.T, e *env) {
	for round := range 5 {
		raceRound(t, e, round)
		if t.Failed() {
			return
		}
	}
}

func raceRound(t *testing.T, e *env, round int) {
	const publishers, maxEach = 4, 250
	opts := keep(publishers*maxEach+10, time.Hour)
	ch := e.ch(fmt.Sprint("race-", round))
	start := publish(t, e.b, ch, "start", opts)

	var published atomic.Int64
	running := make(chan struct{}) // closed once publishing is under way
	var runningOnce, stopOnce sync.Once
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Publishers must be gone before the test may fail and return.
	halt := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	defer halt()
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer runningOnce.Do(func() { close(running) }) // even if publishing failed early
			for range maxEach {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := e.b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, opts); err != nil {
					t.Error(err)
					return
				}
				if published.Add(1) == 20 {
					runningOnce.Do(func() { close(running) })
				}
			}
		}()
	}
	<-running // the subscribe must land mid-stream, not before or after
	if err := e.b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	recovered, pos, err := e.b.History(ctx, ch, broker.HistoryOptions{Since: &start})
	if err != nil {
		t.Fatalf("round %d: history since %+v: %v", round, start, err)
	}
	halt()
	if t.Failed() {
		return
	}
	end := publish(t, e.b, ch, "end", opts)

	if pos.Epoch != start.Epoch || !eq(offsets(recovered), seq(start.Offset+1, pos.Offset)...) {
		t.Fatalf("round %d: history since %d returned %v up to %+v", round, start.Offset, offsets(recovered), pos)
	}
	live, err := e.rec.Publications(ch, 1, wait)
	for err == nil && live[len(live)-1].Pub.Offset < end.Offset {
		live, err = e.rec.Publications(ch, len(live)+1, wait)
	}
	if err != nil {
		t.Fatalf("round %d: waiting for offset %d: %v", round, end.Offset, err)
	}
	// Live delivery starts somewhere at or before the position history
	// returned and has no gap from there.
	if first := live[0].Pub.Offset; first > pos.Offset+1 {
		t.Fatalf("round %d: history reached %d but live delivery started at %d", round, pos.Offset, first)
	}
	for i := 1; i < len(live); i++ {
		if live[i].Pub.Offset != live[i-1].Pub.Offset+1 {
			t.Fatalf("round %d: live offset %d after %d", round, live[i].Pub.Offset, live[i-1].Pub.Offset)
		}
	}
	seen := make(map[uint64]int)
	for _, p := range recovered {
		seen[p.Offset]++
	}
	for _, d := range live {
		if d.Pub.Offset > pos.Offset {
			seen[d.Pub.Offset]++
		}
	}
	for o := start.Offset + 1; o <= end.Offset; o++ {
		if seen[o] != 1 {
			t.Fatalf("round %d: offset %d seen %d times after merging history (to %d) and live", round, o, seen[o], pos.Offset)
		}
	}
	if len(seen) != int(end.Offset-start.Offset) {
		t.Fatalf("round %d: %d offsets merged, want %d", round, len(seen), end.Offset-start.Offset)
	}
}
