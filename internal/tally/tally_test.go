package tally

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWaitCountsLateStarters: a goroutine counted while Wait already waits
// is waited for too, and Wait returns once the last one ends.
func TestWaitCountsLateStarters(t *testing.T) {
	var tl Tally
	tl.Add(1)
	first, late := make(chan struct{}), make(chan struct{})
	go func() { <-first; tl.Done() }()
	waited := make(chan error, 1)
	go func() { waited <- tl.Wait(context.Background()) }()
	tl.Add(1) // starts while Wait waits
	go func() { <-late; tl.Done() }()
	close(first)
	select {
	case err := <-waited:
		t.Fatalf("Wait returned (%v) while a goroutine still ran", err)
	case <-time.After(50 * time.Millisecond): // asserting an absence
	}
	close(late)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if err := tl.Wait(context.Background()); err != nil {
		t.Fatalf("Wait at zero: %v", err)
	}
}

// TestWaitEndsWithItsContext: Wait gives up with the context's error.
func TestWaitEndsWithItsContext(t *testing.T) {
	var tl Tally
	tl.Add(1)
	defer tl.Done()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tl.Wait(ctx); err != context.Canceled {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}

// TestNegativeCountPanics: more Done than Add is a bug, not a silent wrap.
func TestNegativeCountPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	var tl Tally
	tl.Done()
}
