package memory

import "github.com/heraldhq/herald/broker"

// idemSet is one shard's remembered idempotency keys and the first result
// each produced.
type idemSet struct {
	m      map[idemKey]idemEntry
	timers timers[idemKey]
}

type idemKey struct{ channel, key string }

type idemEntry struct {
	pos     broker.StreamPosition
	expires int64 // unix ns
}

func (is *idemSet) init() { is.m = make(map[idemKey]idemEntry) }

// lookup returns the first result for key if it is still remembered.
func (is *idemSet) lookup(k idemKey, now int64) (broker.StreamPosition, bool) {
	e, ok := is.m[k]
	if !ok || now >= e.expires {
		return broker.StreamPosition{}, false
	}
	return e.pos, true
}

// add remembers a result. A key is added only when absent or expired, so it
// has exactly one timer: an expired entry's timer is already due and
// re-arms for the new deadline.
func (is *idemSet) add(k idemKey, pos broker.StreamPosition, expires int64) {
	if _, ok := is.m[k]; !ok {
		is.timers.push(expires, k)
	}
	is.m[k] = idemEntry{pos, expires}
}

// sweep handles up to budget due timers and reports whether more are due.
func (is *idemSet) sweep(now int64, budget int) bool {
	for ; budget > 0; budget-- {
		t, ok := is.timers.popDue(now)
		if !ok {
			return false
		}
		if e, ok := is.m[t.v]; ok {
			if now < e.expires {
				is.timers.push(e.expires, t.v)
			} else {
				delete(is.m, t.v)
			}
		}
	}
	return true
}
