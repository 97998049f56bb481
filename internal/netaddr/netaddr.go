// Package netaddr names the source of a request for per-client limits.
package netaddr

import (
	"net"
	"net/netip"
)

// ClientKey returns the key under which limits count a peer at remoteAddr
// (host:port, as net/http's Request.RemoteAddr): its address for IPv4 (an
// IPv4-mapped IPv6 address counts as IPv4), its /64 for IPv6, because one
// host commonly holds a whole /64 and could otherwise draw fresh allowances
// at will. Anything unparsable is its own key.
func ClientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
