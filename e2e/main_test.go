package e2e_test

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

// clockWaiters is how many waitsOnClock tests run at once unless -parallel
// says otherwise: they wait rather than work, so the default of one per
// CPU would only queue their waits behind each other.
const clockWaiters = "16"

func TestMain(m *testing.M) {
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", clockWaiters)
	}
	goleak.VerifyTestMain(m)
}

// waitsOnClock marks a test that spends its time waiting for timers to
// fire (token expiry, heartbeats, engine restarts, close timeouts) rather
// than working. Such tests run side by side once the package's others are
// done (t.Parallel), so their waits overlap instead of adding up. A test
// that keeps the CPU busy stays serial: beside these it would make their
// timers late.
func waitsOnClock(t *testing.T) {
	t.Helper()
	t.Parallel()
}
