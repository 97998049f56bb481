package admin

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/netaddr"
)

// Failed logins (form or bearer) per remote address, or per browser for
// one that has logged in before: a burst of loginBurst, then one more every
// loginEvery. An address or browser out of attempts is refused before its
// password is even compared.
//
// Counting by address alone would let anyone who shares the operator's
// address (an office NAT, or every client of a reverse proxy in front of
// Herald) lock the operator out by guessing. Letting the right password
// through a blocked address would not do: a guesser would then be refused
// only its wrong guesses, at any rate. So a browser that has logged in
// keeps a device cookie, signed with a key made at start, and its attempts
// count under that cookie instead: guessing from its address does not
// touch them, and a guesser cannot make one without the password. A new
// browser, or a script, behind a blocked address waits like the guesser.
const (
	loginBurst = 5
	loginEvery = 12 * time.Second
	// maxTracked bounds the addresses remembered; past it the table drops
	// the addresses whose allowance has refilled, then arbitrary ones.
	maxTracked = 4096
)

// guard counts failed password attempts per key: an address or a device.
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

// remoteKey names a request's source: the TCP peer's address, an IPv6 one
// as its /64, which one host usually holds whole.
func remoteKey(r *http.Request) string { return netaddr.ClientKey(r.RemoteAddr) }

// attemptKey is the key a request's password attempts count under: its
// device cookie's, when it has a valid one, else its address.
func (h *handler) attemptKey(r *http.Request) string {
	if c, err := r.Cookie(deviceCookieName); err == nil {
		if nonce, _, ok := h.devices.check(c.Value, time.Now()); ok {
			return "device " + nonce
		}
	}
	return remoteKey(r)
}
