package wait_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wait"
)

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	wait.For(t, 5*time.Second, func() error {
		if n := calls.Add(1); n < 3 {
			return fmt.Errorf("call %d", n)
		}
		return nil
	})
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 3: the first nil ends the wait", n)
	}
}

func TestUntilReportsTheLastStateSeen(t *testing.T) {
	errLast := errors.New("3 of 4 clients")
	var calls atomic.Int32
	start := time.Now()
	err := wait.Until(50*time.Millisecond, func() error {
		if calls.Add(1) == 1 {
			return errors.New("0 of 4 clients")
		}
		return errLast
	})
	if !errors.Is(err, errLast) || !strings.Contains(err.Error(), "not within 50ms: 3 of 4 clients") {
		t.Fatalf("err = %v, want the last state seen", err)
	}
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", elapsed)
	}
	if n := calls.Load(); n < 2 {
		t.Fatalf("%d calls: the condition was not polled", n)
	}
}

// fatalRecorder is a testing.TB that records Fatal instead of ending the
// test, so that a failing For can be checked.
type fatalRecorder struct {
	testing.TB
	failed string
}

func (r *fatalRecorder) Helper()           {}
func (r *fatalRecorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...) }

func TestForFailsWithTheLastState(t *testing.T) {
	r := &fatalRecorder{TB: t}
	wait.For(r, 10*time.Millisecond, func() error { return errors.New("queue holds 7 bytes") })
	if !strings.Contains(r.failed, "queue holds 7 bytes") {
		t.Fatalf("failed with %q, want the last state", r.failed)
	}
}
