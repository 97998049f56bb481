// Package outage logs a repeated background task's failures once per
// outage instead of once per attempt: while the engine is away, a task that
// runs every second on every channel would otherwise write a line per
// channel per second and bury what matters.
package outage

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Log follows one repeated task. The first failure after a success (or
// the first ever) is logged at warning level with its error; later
// failures are only counted; the first success after failures is logged at
// info level with how many failed and for how long. It is safe for
// concurrent use.
type Log struct {
	log  *slog.Logger
	task string
	// down mirrors failing, so that OK costs an atomic load when nothing
	// failed: it may be called on every success of a busy path.
	down atomic.Bool

	mu       sync.Mutex
	failing  bool
	since    time.Time
	failures int
}

// New returns a Log for task, a short description such as "presence
// sweep", written to log.
func New(log *slog.Logger, task string) *Log {
	return &Log{log: log, task: task}
}

// Fail records a failed attempt; args are logged with the first one of an
// outage.
func (l *Log) Fail(err error, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures++
	if l.failing {
		return
	}
	l.failing, l.since = true, time.Now()
	l.down.Store(true)
	l.log.Warn(l.task+" failing; retrying, logged again once it recovers", append([]any{"err", err}, args...)...)
}

// OK records a successful attempt.
func (l *Log) OK() {
	if !l.down.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.failing {
		return
	}
	l.log.Info(l.task+" recovered", "failures", l.failures, "after", time.Since(l.since).Round(time.Millisecond))
	l.failing, l.failures = false, 0
	l.down.Store(false)
}

// Failing reports whether the last attempt failed.
func (l *Log) Failing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failing
}
