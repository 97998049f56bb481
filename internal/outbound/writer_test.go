package outbound

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wait"
)

// TestWriterRunsOnlyWhenNeeded: a push starts one writer goroutine, counted
// by the tracker, which writes and ends once the queue is empty.
func TestWriterRunsOnlyWhenNeeded(t *testing.T) {
	c, w, e, tr := newTrackedConn(100, 1000, false)
	c.Push([]byte("a"))
	tr.Wait()
	if writing(c) || !slices.Equal(w.sent(), []string{"a"}) || tr.started.Load() != 1 {
		t.Fatalf("writing %v, sent %q, %d goroutines", writing(c), w.sent(), tr.started.Load())
	}
	if len(e.frames) != 1 || e.frames[0] != (FrameStats{Bytes: 1, Messages: 1, Depth: 1}) {
		t.Fatalf("reported %+v", e.frames)
	}
}

// TestCorkThenUncorkWritesInline: while corked no writer starts, so what is
// pushed meanwhile leaves in one frame, written by Uncork on its own
// goroutine without a writer goroutine.
func TestCorkThenUncorkWritesInline(t *testing.T) {
	c, w, _, tr := newTrackedConn(100, 1000, false)
	c.Cork()
	c.Push([]byte("reply"))
	c.PushLive(NewShared([]byte("push")), 1)
	if writing(c) || len(w.sent()) != 0 {
		t.Fatalf("a writer ran while corked: %q", w.sent())
	}
	c.Uncork()
	if !slices.Equal(w.sent(), []string{"reply|push"}) || tr.started.Load() != 0 || writing(c) {
		t.Fatalf("sent %q by %d goroutines, writing %v", w.sent(), tr.started.Load(), writing(c))
	}
	// Uncorked with nothing pending writes nothing.
	c.Cork()
	c.Uncork()
	if len(w.sent()) != 1 {
		t.Fatalf("an empty uncork wrote %q", w.sent())
	}
}

// TestUncorkLeavesTheRestToAWriter: a push that lands while Uncork writes
// its frame goes out from a writer goroutine, so the reader is not kept.
func TestUncorkLeavesTheRestToAWriter(t *testing.T) {
	c, w, _, tr := newTrackedConn(100, 1000, false)
	var once sync.Once
	w.hold = func() { once.Do(func() { c.Push([]byte("late")) }) }
	c.Cork()
	c.Push([]byte("reply"))
	c.Uncork()
	tr.Wait()
	if !slices.Equal(w.sent(), []string{"reply", "late"}) || tr.started.Load() != 1 {
		t.Fatalf("sent %q by %d goroutines", w.sent(), tr.started.Load())
	}
}

// TestCorkLetsGoAfterCorkMax: a reader that stays in one frame (waiting
// for a broker) holds back the connection's messages for corkMax at
// most; the cork stays on for what comes after.
func TestCorkLetsGoAfterCorkMax(t *testing.T) {
	c, w, _, tr := newTrackedConn(100, 1000, false)
	c.Cork()
	start := time.Now()
	c.PushLive(NewShared([]byte("live")), 1)
	wait.For(t, 5*time.Second, func() error {
		if s := w.sent(); len(s) != 1 {
			return fmt.Errorf("sent %q", s)
		}
		return nil
	})
	if held := time.Since(start); held < corkMax {
		t.Fatalf("the cork let go after %v, before corkMax", held)
	}
	tr.Wait()
	c.PushLive(NewShared([]byte("again")), 2)
	wait.For(t, 5*time.Second, func() error {
		if s := w.sent(); !slices.Equal(s, []string{"live", "again"}) {
			return fmt.Errorf("sent %q", s)
		}
		return nil
	})
	c.Uncork()
	tr.Wait()
}

// TestReleaseIdle: a quiet connection lets its cork timer and its
// queue's arrays go, and the next corked frame makes a timer that still
// lets the writer go after corkMax; an armed timer and a queue that holds
// messages are kept.
func TestReleaseIdle(t *testing.T) {
	c, w, _, tr := newTrackedConn(100, 1000, false)
	c.Cork()
	c.Push([]byte("reply"))
	c.ReleaseIdle() // armed, and a message queued: kept
	c.mu.Lock()
	kept := c.corkTimer != nil && len(c.items) == 1
	c.mu.Unlock()
	if !kept {
		t.Fatal("an armed cork timer or a queued message was let go")
	}
	c.Uncork()
	c.ReleaseIdle()
	c.mu.Lock()
	held := c.corkTimer != nil || c.items != nil || c.stamps != nil || c.batch != nil || c.parts != nil
	c.mu.Unlock()
	if held {
		t.Fatal("a quiet connection kept its cork timer or its arrays")
	}
	c.Cork()
	c.PushLive(NewShared([]byte("live")), 1)
	wait.For(t, 5*time.Second, func() error {
		if s := w.sent(); !slices.Equal(s, []string{"reply", "live"}) {
			return fmt.Errorf("sent %q", s)
		}
		return nil
	})
	c.Uncork()
	tr.Wait()
}

// TestFinalThenDrained: the final message goes out after everything queued
// before it, and then the owner is told to close.
func TestFinalThenDrained(t *testing.T) {
	c, w, e, tr := newTrackedConn(100, 1000, false)
	c.Cork()
	c.Push([]byte("a"))
	c.PushFinal([]byte("bye"))
	c.Uncork()
	tr.Wait()
	if !slices.Equal(w.sent(), []string{"a|bye"}) || e.drained != 1 {
		t.Fatalf("sent %q, drained %d", w.sent(), e.drained)
	}
	if c.Push([]byte("late")) != Dropped {
		t.Fatal("a push after the final message was not dropped")
	}
}

// TestWriteFailureCloses: a failed write closes the Conn, so nothing more
// is queued, and is reported to the owner.
func TestWriteFailureCloses(t *testing.T) {
	c, w, e, tr := newTrackedConn(100, 1000, false)
	w.fail = errBroken
	c.Push([]byte("a"))
	tr.Wait()
	if len(e.failures) != 1 || !errors.Is(e.failures[0], errBroken) {
		t.Fatalf("failures %v", e.failures)
	}
	if c.Push([]byte("b")) != Dropped || !c.Ending() {
		t.Fatal("a Conn whose write failed still takes pushes")
	}
}

// TestFanoutWritesWithoutWaiting: live pushes fanned out reach every Conn
// whole and in order, from few goroutines for Conns that write without
// waiting, also when the socket takes part of a frame and a writer
// goroutine flushes the rest before anything else; Conns that cannot get a
// writer goroutine each.
func TestFanoutWritesWithoutWaiting(t *testing.T) {
	const conns, pushes = 600, 30 // more than one chunk of writes
	var tr tracker
	type peer struct {
		c *Conn
		w *wire
	}
	peers := make([]peer, conns)
	for i := range peers {
		w := &wire{tryTakes: []float64{0.5, 1}}
		c := &Conn{}
		c.Init(Config{Writes: w.writes(i%10 != 0), Events: &events{}, MaxMessages: 1000, MaxBytes: 1 << 20, Separator: []byte("|"), Tracker: &tr})
		peers[i] = peer{c, w}
	}
	for n := range pushes {
		f := NewFanout(&tr)
		msg := []byte(fmt.Sprintf("<%d>", n))
		for _, p := range peers {
			if r, claimed := p.c.PushLive(NewShared(msg), 1); r != Queued {
				t.Fatalf("push %d: %v", n, r)
			} else if claimed {
				f.Add(p.c)
			}
		}
		f.Start()
	}
	tr.Wait()
	var want strings.Builder
	for n := range pushes {
		fmt.Fprintf(&want, "<%d>", n)
	}
	for i, p := range peers {
		got := strings.ReplaceAll(strings.Join(p.w.sent(), ""), "|", "")
		if got != want.String() || p.w.bad != "" {
			t.Fatalf("conn %d: sent %q, want %q; %s", i, got, want.String(), p.w.bad)
		}
		if p.w.tryTakes != nil && i%10 != 0 && p.w.flushes == 0 {
			t.Fatalf("conn %d: a frame left half written was never flushed", i)
		}
		if i%10 == 0 && p.w.tries != 0 {
			t.Fatalf("conn %d: TryFrame used on a transport without it", i)
		}
	}
}
