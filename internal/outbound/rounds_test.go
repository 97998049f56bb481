package outbound

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wait"
)

// peer is one test Conn with its wire and events.
type peer struct {
	c *Conn
	w *wire
	e *events
}

// newPeers returns n Conns that write without waiting (TryFrame), their
// goroutines counted by tr.
func newPeers(n int, tr Tracker) []peer {
	peers := make([]peer, n)
	for i := range peers {
		w, e := &wire{}, &events{}
		c := &Conn{}
		c.Init(Config{Writes: w.writes(true), Events: e, MaxMessages: 1000, MaxBytes: 1 << 20, Separator: []byte("|"), Tracker: tr})
		peers[i] = peer{c, w, e}
	}
	return peers
}

// publish pushes msg to every peer, as a channel's delivery loop does, and
// starts the fan-out in r.
func publish(t *testing.T, r *Rounds, tr Tracker, peers []peer, msg string) {
	t.Helper()
	f := NewFanout(tr)
	for _, p := range peers {
		res, claimed := p.c.PushLive(NewShared([]byte(msg)), 1)
		if res != Queued {
			t.Fatalf("push %s: %v", msg, res)
		}
		if claimed {
			f.Add(p.c)
		}
	}
	r.Start(f)
}

// TestRoundsCoalescePublicationsWhileARoundWrites: publications pushed
// while a round is still writing (here: its last write takes long) leave
// in one frame per subscriber, written by the next round, including to the
// subscribers the running round had already written and let go.
func TestRoundsCoalescePublicationsWhileARoundWrites(t *testing.T) {
	const subscribers, publications = 10, 6
	var tr tracker
	peers := newPeers(subscribers, &tr)
	// The round's last write waits until the test has pushed the rest.
	gate := make(chan struct{})
	var once sync.Once
	peers[subscribers-1].w.tryHold = func() { once.Do(func() { <-gate }) }
	var r Rounds
	publish(t, &r, &tr, peers, "<0>")
	for i, p := range peers[:subscribers-1] {
		wait.For(t, 5*time.Second, func() error {
			if len(p.w.sent()) != 1 || writing(p.c) {
				return fmt.Errorf("subscriber %d: sent %q, writing %v", i, p.w.sent(), writing(p.c))
			}
			return nil
		})
	}
	// Each publication is pushed once the fan-out of the one before has
	// done all it would before the round ends (written its subscribers, or
	// left them to the next round), as when publications come from API
	// requests, one per goroutine, whose fan-out writers the scheduler
	// runs first.
	settled := func() error {
		r.mu.Lock()
		waiting := slices.Clone(r.next)
		r.mu.Unlock()
		for i, p := range peers[:subscribers-1] {
			if (depth(p.c) > 0 || writing(p.c)) && !slices.Contains(waiting, p.c) {
				return fmt.Errorf("subscriber %d: %d queued, neither written nor in the next round", i, depth(p.c))
			}
		}
		return nil
	}
	var rest []string
	for n := 1; n < publications; n++ {
		msg := fmt.Sprintf("<%d>", n)
		publish(t, &r, &tr, peers, msg)
		rest = append(rest, msg)
		wait.For(t, 5*time.Second, settled)
	}
	// The next round cannot start before the running one ends.
	for i, p := range peers[:subscribers-1] {
		if sent := p.w.sent(); len(sent) != 1 {
			t.Fatalf("subscriber %d: written while the round before was running: %q", i, sent)
		}
	}
	close(gate)
	tr.Wait()
	want := []string{"<0>", strings.Join(rest, "|")}
	for i, p := range peers {
		if sent := p.w.sent(); !slices.Equal(sent, want) || p.w.bad != "" {
			t.Fatalf("subscriber %d: sent %q, want %q; %s", i, sent, want, p.w.bad)
		}
		if st := p.e.frames[1]; st.Messages != publications-1 {
			t.Fatalf("subscriber %d: second frame reported %+v", i, st)
		}
	}
	if r.running || len(r.next) != 0 {
		t.Fatalf("rounds still running (%v) or waiting (%d) with nothing to write", r.running, len(r.next))
	}
}

// TestRoundsStartAtOnceWhenIdle: a fan-out that finds no round running
// writes at once, each publication in a frame of its own when the one
// before was written already; a channel whose Conns have no TryFrame
// (writer goroutines only) does not hold its next round.
func TestRoundsStartAtOnceWhenIdle(t *testing.T) {
	for _, try := range []bool{true, false} {
		t.Run(fmt.Sprintf("try=%v", try), func(t *testing.T) {
			var tr tracker
			peers := newPeers(3, &tr)
			if !try {
				for _, p := range peers {
					p.c.w = p.w.writes(false)
				}
			}
			var r Rounds
			for n := range 3 {
				publish(t, &r, &tr, peers, fmt.Sprintf("<%d>", n))
				tr.Wait()
			}
			for i, p := range peers {
				if sent := p.w.sent(); !slices.Equal(sent, []string{"<0>", "<1>", "<2>"}) {
					t.Fatalf("subscriber %d: sent %q", i, sent)
				}
			}
			if r.running {
				t.Fatal("a round is still marked running")
			}
		})
	}
}

// TestRoundsKeepOrderUnderConcurrentPublishers: publishers on several
// goroutines, each publishing its own sequence through one Rounds, reach
// every subscriber whole and each sequence in order (run with -race).
func TestRoundsKeepOrderUnderConcurrentPublishers(t *testing.T) {
	const subscribers, publishers, each = 300, 4, 50
	var tr tracker
	peers := newPeers(subscribers, &tr)
	var r Rounds
	var mu sync.Mutex // a channel's publications are delivered one at a time
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for n := range each {
				mu.Lock()
				publish(t, &r, &tr, peers, fmt.Sprintf("<%c%d>", 'a'+p, n))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	tr.Wait()
	for i, pe := range peers {
		got := strings.Split(strings.Join(pe.w.sent(), "|"), "|")
		if len(got) != publishers*each || pe.w.bad != "" {
			t.Fatalf("subscriber %d: %d messages; %s", i, len(got), pe.w.bad)
		}
		for p := range publishers {
			var seq []string
			for _, m := range got {
				if m[1] == byte('a'+p) {
					seq = append(seq, m)
				}
			}
			for n, m := range seq {
				if m != fmt.Sprintf("<%c%d>", 'a'+p, n) {
					t.Fatalf("subscriber %d: publisher %c out of order: %q", i, 'a'+p, seq)
				}
			}
		}
	}
}
