package admin

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/netaddr"
)

// Failed logins (form or bearer) per remote address: a burst of
// loginBurst, then one more every loginEvery. An address out of attempts is
// refused before its password is even compared.
const (
	loginBurst = 5
	loginEvery = 12 * time.Second
	// maxTracked bounds the addresses remembered; past it the table drops
	// the addresses whose allowance has refilled, then arbitrary ones.
	maxTracked = 4096
)

// guard counts failed password attempts per remote address.
type guard struct {
	mu    sync.Mutex
	fails map[string]*rate.Limiter
}

func newGuard() *guard {
	return &guard{fails: make(map[string]*rate.Limiter)}
}

// blocked reports whether addr has used up its attempts.
func (g *guard) blocked(addr string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	lim := g.fails[addr]
	return lim != nil && lim.TokensAt(now) < 1
}

// failed spends one of addr's attempts.
func (g *guard) failed(addr string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lim := g.fails[addr]
	if lim == nil {
		if len(g.fails) >= maxTracked {
			g.evict(now)
		}
		lim = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		g.fails[addr] = lim
	}
	lim.AllowN(now, 1)
}

// evict makes room: addresses back at a full allowance are no different
// from new ones; if too few are, arbitrary ones go until an eighth of the
// table is free, so that the sweep's cost is paid once per many inserts.
// Handing a dropped address a fresh allowance is the price of bounded
// memory.
func (g *guard) evict(now time.Time) {
	for addr, lim := range g.fails {
		if lim.TokensAt(now) >= loginBurst {
			delete(g.fails, addr)
		}
	}
	for addr := range g.fails {
		if len(g.fails) <= maxTracked-maxTracked/8 {
			return
		}
		delete(g.fails, addr)
	}
}

// remoteKey is the key a request's attempts count under: the TCP peer's
// address, an IPv6 one as its /64, which one host usually holds whole.
func remoteKey(r *http.Request) string { return netaddr.ClientKey(r.RemoteAddr) }
