package server

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/netaddr"
	"github.com/heraldhq/herald/internal/ratelimit"
)

// maxTrackedIPs bounds the per-IP connection-rate buckets; past it the
// table drops buckets (full ones first), so a flood from many addresses
// costs memory no more than this.
const maxTrackedIPs = 1 << 16

// connectRate limits how fast one address may open WebSocket connections.
type connectRate struct {
	table *ratelimit.Table // nil when the limit is off
	rate  rate.Limit
	burst int
	// retryAfter is what a refused client is told to wait, in seconds: the
	// time one token takes to come back.
	retryAfter string
}

func newConnectRate(perSecond float64, burst int) *connectRate {
	if perSecond < 0 {
		return &connectRate{}
	}
	return &connectRate{
		table:      ratelimit.NewTable(maxTrackedIPs),
		rate:       rate.Limit(perSecond),
		burst:      burst,
		retryAfter: strconv.Itoa(int(math.Ceil(1 / perSecond))),
	}
}

// allow takes a token for the request's source and, when there is none,
// answers 429 with Retry-After and reports false.
func (c *connectRate) allow(w http.ResponseWriter, r *http.Request) bool {
	if c.allowKey(netaddr.ClientKey(r.RemoteAddr)) {
		return true
	}
	w.Header().Set("Retry-After", c.retryAfter)
	http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
	return false
}

// allowKey takes a token for a source (netaddr.ClientKey) and reports
// whether there was one.
func (c *connectRate) allowKey(key string) bool {
	return c.table == nil || c.table.Allow(key, c.rate, c.burst)
}

// apiAllowed reports whether the request's source address is in one of
// nets; no nets allows every address. The peer address counts, never a
// forwarding header, which anyone can write.
func apiAllowed(r *http.Request, nets []netip.Prefix) bool {
	if len(nets) == 0 {
		return true
	}
	a, err := netip.ParseAddr(remoteIP(r))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
