package bench

import (
	"fmt"
	"net"
	"strings"
)

// PerSourceAddress is how many clients one local address takes when Run
// spreads clients over loopback addresses by itself. A server counts
// connections and connection attempts per address (Herald by default: 20
// new connections a second with bursts of 50, 1,000 open), so the whole
// load coming from 127.0.0.1 meets those limits within a second.
// Twenty-five clients per address stay within the burst with room for
// the publishers and for reconnects.
const PerSourceAddress = 25

// LoopbackSources returns the local addresses to spread clients over when
// the target host is on IPv4 loopback (127.0.0.0/8, or "localhost"): one
// per PerSourceAddress clients, from 127.0.0.2 up. The whole of
// 127.0.0.0/8 is local on Linux; where the system refuses to bind those
// addresses (macOS configures only 127.0.0.1) it returns nil and the
// clients connect from the system's choice.
func LoopbackSources(host string, clients int) []net.IP {
	ip := net.ParseIP(host)
	if strings.EqualFold(host, "localhost") {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil
	}
	n := max(1, (clients+PerSourceAddress-1)/PerSourceAddress)
	out := make([]net.IP, 0, n)
	for v := uint32(127<<24 | 2); len(out) < n && v < 128<<24; v++ {
		if b := byte(v); b == 0 || b == 255 {
			continue // network and broadcast-looking addresses, to be safe
		}
		out = append(out, net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)))
	}
	if !bindable(out[0]) || !bindable(out[len(out)-1]) {
		return nil
	}
	return out
}

// bindable reports whether the system lets us use ip as a local address.
func bindable(ip net.IP) bool {
	l, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// SplitSources gives each of n workers its own share of addresses, in
// order, when there are at least n; otherwise every worker gets them all.
func SplitSources(ips []net.IP, n int) [][]net.IP {
	out := make([][]net.IP, n)
	for i := range out {
		if len(ips) < n {
			out[i] = ips
			continue
		}
		out[i] = ips[i*len(ips)/n : (i+1)*len(ips)/n]
	}
	return out
}

// FormatIPs writes addresses in the form ParseIPRange reads, runs of
// consecutive IPv4 addresses as "A-B".
func FormatIPs(ips []net.IP) string {
	var parts []string
	for i := 0; i < len(ips); {
		j := i
		for j+1 < len(ips) && ipv4Value(ips[j+1]) == ipv4Value(ips[j])+1 && ips[j+1].To4() != nil {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%s-%s", ips[i], ips[j]))
		} else {
			parts = append(parts, ips[i].String())
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func ipv4Value(ip net.IP) uint32 {
	a := ip.To4()
	if a == nil {
		return 0
	}
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}
