package hub

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestBudgetWaitSweeps: usage between the sweep's target and the limit
// starts no sweep by itself (Add sweeps past the limit only), so work that
// waits for room starts them; otherwise bytes held by clients that read
// slowly, or not at all, would keep every waiter waiting until those
// clients' write timeouts.
func TestBudgetWaitSweeps(t *testing.T) {
	var sweeps atomic.Int32
	b := &outgoingBudget{limit: 1000}
	b.sweep = func() {
		sweeps.Add(1)
		b.used.Store(850) // the sweep cut the largest holder
	}
	b.spawn = func(f func()) bool { f(); return true }
	b.Add(950) // over the target (900), under the limit
	if sweeps.Load() != 0 {
		t.Fatalf("Add under the limit swept %d times", sweeps.Load())
	}
	slept := 0
	sleep := func(time.Duration) bool { slept++; return slept < 100 }
	if !b.waitRoom(sleep, func() bool { return false }) {
		t.Fatal("waitRoom gave up")
	}
	if sweeps.Load() != 1 || slept != 1 {
		t.Fatalf("%d sweeps, %d sleeps: want the waiter to start one sweep and go on", sweeps.Load(), slept)
	}
}

// TestBudgetWaitEnds: a waiter whose connection is going, or whose hub is
// stopping, stops waiting.
func TestBudgetWaitEnds(t *testing.T) {
	b := &outgoingBudget{limit: 1000, sweep: func() {}, spawn: func(func()) bool { return true }}
	b.used.Store(990)
	if b.waitRoom(func(time.Duration) bool { return true }, func() bool { return true }) {
		t.Fatal("waited on for a connection that is gone")
	}
	if b.waitRoom(func(time.Duration) bool { return false }, func() bool { return false }) {
		t.Fatal("waited on through Shutdown")
	}
	var nilBudget *outgoingBudget
	if !nilBudget.waitRoom(nil, nil) {
		t.Fatal("a node without a budget waited")
	}
}
