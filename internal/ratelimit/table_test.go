package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ratelimit"
)

// TestTableBounded: the table behind the per-IP and per-channel limits
// never holds more than its cap, drops buckets that have refilled, and
// keeps the ones still draining.
func TestTableBounded(t *testing.T) {
	t.Run("cap", func(t *testing.T) {
		tab := ratelimit.NewTable(64)
		now := time.Now()
		for i := 0; i < 10000; i++ {
			tab.AllowAt(fmt.Sprint("ip-", i), 0.001, 1, now)
		}
		if n := tab.Len(); n > 64 {
			t.Fatalf("table holds %d buckets, cap 64", n)
		}
	})
	t.Run("idle buckets go", func(t *testing.T) {
		tab := ratelimit.NewTable(1 << 20)
		t0 := time.Now()
		if !tab.AllowAt("busy", 0.001, 1, t0) || tab.AllowAt("busy", 0.001, 1, t0) {
			t.Fatal("burst of 1 not applied")
		}
		for i := 0; i < 1000; i++ {
			tab.AllowAt(fmt.Sprint("old-", i), 1, 1, t0)
		}
		t1 := t0.Add(time.Minute) // every old bucket has refilled
		for i := 0; i < 1000; i++ {
			tab.AllowAt(fmt.Sprint("new-", i), 1, 1, t1)
		}
		if n := tab.Len(); n != 1001 {
			t.Fatalf("table holds %d buckets, want the 1000 new ones and the busy one", n)
		}
		if tab.AllowAt("busy", 0.001, 1, t1) {
			t.Fatal("a draining bucket was dropped and refilled")
		}
	})
}

// TestTableHasTokenAndForget: HasToken looks without taking; Forget hands
// the key a full bucket again.
func TestTableHasTokenAndForget(t *testing.T) {
	tab := ratelimit.NewTable(64)
	now := time.Now()
	if !tab.HasToken("k", now) {
		t.Fatal("a key without a bucket has no token")
	}
	if !tab.AllowAt("k", 0.001, 2, now) {
		t.Fatal("first token refused")
	}
	for range 3 { // looking takes nothing
		if !tab.HasToken("k", now) {
			t.Fatal("the second token is gone")
		}
	}
	if !tab.AllowAt("k", 0.001, 2, now) || tab.HasToken("k", now) {
		t.Fatal("an empty bucket has a token")
	}
	tab.Forget("k")
	if !tab.HasToken("k", now) || !tab.AllowAt("k", 0.001, 1, now) {
		t.Fatal("a forgotten key does not start full")
	}
}

// TestTableSteadyStateAllocs: a key already in the table costs no
// allocation, so the limits add nothing per message.
func TestTableSteadyStateAllocs(t *testing.T) {
	tab := ratelimit.NewTable(1024)
	tab.Allow("chat:x", 1e9, 1e9)
	if n := testing.AllocsPerRun(1000, func() { tab.Allow("chat:x", 1e9, 1e9) }); n != 0 {
		t.Fatalf("%v allocations per Allow", n)
	}
}
