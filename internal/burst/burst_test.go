package burst

import (
	"runtime"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type jobFunc func()

func (f jobFunc) RunBurst() { f() }

// TestRunReusesGoroutines: bursts run one after another share a goroutine,
// and every burst runs once.
func TestRunReusesGoroutines(t *testing.T) {
	p := NewPool()
	defer p.Close()
	var mu sync.Mutex
	ran := 0
	done := make(chan struct{}, 1)
	job := jobFunc(func() {
		mu.Lock()
		ran++
		mu.Unlock()
		done <- struct{}{}
	})
	before := runtime.NumGoroutine()
	for range 100 {
		p.Run(job)
		<-done
	}
	mu.Lock()
	defer mu.Unlock()
	if ran != 100 {
		t.Fatalf("ran %d bursts, want 100", ran)
	}
	// The bursts waited for each other: a handful of goroutines at most,
	// not one per burst.
	if n := runtime.NumGoroutine() - before; n > 3 {
		t.Fatalf("%d goroutines for 100 bursts one at a time", n)
	}
}

// TestCloseEndsIdleGoroutines: after Close no goroutine of the pool is
// left (goleak checks at the end), and a burst run after it still runs.
func TestCloseEndsIdleGoroutines(t *testing.T) {
	p := NewPool()
	done := make(chan struct{})
	p.Run(jobFunc(func() { done <- struct{}{} }))
	<-done
	p.Close()
	p.Close()
	p.Run(jobFunc(func() { close(done) }))
	<-done
}
