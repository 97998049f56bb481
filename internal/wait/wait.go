// Package wait lets tests wait for what they need instead of sleeping for
// a guess at how long it takes: the machine a test runs on may be slow or
// busy, and a sleep is then either too short (a flaky test) or too long (a
// slow one).
//
// A condition returns nil once it holds, or an error that says what it saw
// instead, so that a timeout reports the last state rather than only that
// time ran out.
package wait

import (
	"fmt"
	"testing"
	"time"
)

// Interval is how often a condition is checked.
const Interval = 5 * time.Millisecond

// For checks cond every Interval until it returns nil, and fails the test
// with cond's last error if timeout passes first.
func For(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Until(timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// Until checks cond every Interval until it returns nil, and returns nil,
// or cond's last error if timeout passes first. It is For for code that
// reports errors rather than failing a test itself.
func Until(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		time.Sleep(Interval)
	}
}
