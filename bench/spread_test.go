package bench

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/server"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

func TestLoopbackSources(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost", "127.1.2.3"} {
		ips := LoopbackSources(host, 3*PerSourceAddress+1)
		if len(ips) != 4 || ips[0].String() != "127.0.0.2" || ips[3].String() != "127.0.0.5" {
			t.Fatalf("%s: %v", host, ips)
		}
	}
	if ips := LoopbackSources("127.0.0.1", 0); len(ips) != 1 {
		t.Fatalf("no clients: %v, want one address for the publisher", ips)
	}
	for _, host := range []string{"10.0.0.1", "::1", "example.com", ""} {
		if ips := LoopbackSources(host, 100); ips != nil {
			t.Fatalf("%q is no IPv4 loopback target, got %v", host, ips)
		}
	}
	// Past 127.0.0.254 the addresses go on at 127.0.1.1, skipping the
	// .255 and .0 that look like broadcast and network addresses.
	ips := LoopbackSources("127.0.0.1", 300*PerSourceAddress)
	if len(ips) != 300 || ips[252].String() != "127.0.0.254" || ips[253].String() != "127.0.1.1" {
		t.Fatalf("%d addresses, [252] %v [253] %v", len(ips), ips[252], ips[253])
	}
	s := FormatIPs(ips)
	if s != "127.0.0.2-127.0.0.254,127.0.1.1-127.0.1.47" {
		t.Fatalf("formatted %q", s)
	}
	back, err := ParseIPRange(s)
	if err != nil || len(back) != len(ips) || !back[299].Equal(ips[299]) {
		t.Fatalf("round trip: %d addresses, %v", len(back), err)
	}
	if s := FormatIPs([]net.IP{net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 0, 3)}); s != "10.0.0.1,10.0.0.3" {
		t.Fatalf("formatted %q", s)
	}
}

func TestSplitSources(t *testing.T) {
	ips, _ := ParseIPRange("127.0.0.2-127.0.0.11")
	parts := SplitSources(ips, 3)
	if len(parts[0])+len(parts[1])+len(parts[2]) != 10 || parts[1][0].Equal(parts[0][len(parts[0])-1]) {
		t.Fatalf("split %v", parts)
	}
	// Fewer addresses than workers: each worker gets them all.
	for _, p := range SplitSources(ips[:2], 3) {
		if len(p) != 2 {
			t.Fatalf("split %v", p)
		}
	}
}

// TestLoopbackSpreadPassesConnectRate: more clients than a server lets one
// address open at once (Herald's default burst is 50) all connect against
// a loopback target without --source-ips, because Run spreads them.
func TestLoopbackSpreadPassesConnectRate(t *testing.T) {
	// The default burst per address (50), which PerSourceAddress fits
	// within, with a refill slow enough (1/s) that a loaded machine,
	// connecting slowly, cannot let 150 clients from one address through.
	s := ht.Start(t, ht.Options{Server: server.Config{ConnectRatePerIP: 1}})
	cfg := base(s, "fanout")
	cfg.Connections = 150
	r := run(t, cfg).Results[0]
	if r.Connections != 150 || len(r.ConnectErrors) != 0 {
		t.Fatalf("%d connected, errors %v", r.Connections, r.ConnectErrors)
	}
	sane(t, r, r.Published*150)
	// From one address the clients meet the limit, and so does the
	// publisher after them: the error says which limit and how to lift it.
	cfg.SourceIPs, _ = ParseIPRange("127.0.0.1")
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "http 429") || !strings.Contains(err.Error(), "limits.connect_rate_per_ip") ||
		!strings.Contains(err.Error(), "HERALD_LIMITS_CONNECT_RATE_PER_IP=-1") {
		t.Fatalf("150 clients from one address: %v", err)
	}
}

// TestPublisherPool: a rate above the server's per-connection publish
// limit is spread over several publisher connections, so nothing is
// refused; one connection at that rate is refused, and told why.
func TestPublisherPool(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{PublishRate: 5, PublishBurst: 5}})
	cfg := base(s, "fanout")
	cfg.Connections, cfg.Rate, cfg.Duration = 2, 100, time.Second
	// A hundred publications over twenty connections are five each,
	// within the server's burst.
	cfg.Publishers = 20
	r := run(t, cfg).Results[0]
	if r.Errors != 0 || len(r.ErrorCodes) != 0 {
		t.Fatalf("20 publishers at 5/s each: errors %d %v", r.Errors, r.ErrorCodes)
	}
	sane(t, r, r.Published*2)
	cfg.Publishers, cfg.Drain = 1, 500*time.Millisecond // refused: nothing to wait for
	r = run(t, cfg).Results[0]
	if r.Errors == 0 || r.ErrorCodes["error 110"] == 0 || !anyContains(r.Warnings(), "limits.publish_rate") {
		t.Fatalf("one publisher at 100/s: errors %d %v, warnings %q", r.Errors, r.ErrorCodes, r.Warnings())
	}
}

func TestAutoPublishers(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		rate float64
		want int
	}{
		{Config{Protocol: "herald"}, 10, 1},
		{Config{Protocol: "herald"}, PublisherRate, 1},
		{Config{Protocol: "herald"}, 200, 5},
		{Config{Protocol: "herald"}, 1e6, MaxAutoPublishers},
		{Config{Protocol: "herald", Publishers: 3}, 10, 3},
		{Config{Protocol: "raw"}, 200, 1},
		{Config{Protocol: "herald", PublishVia: "api"}, 200, 1},
	} {
		if got := c.cfg.publishers(c.rate); got != c.want {
			t.Errorf("protocol %s via %q, publishers %d, at %v/s: %d publishers, want %d", c.cfg.Protocol, c.cfg.PublishVia, c.cfg.Publishers, c.rate, got, c.want)
		}
	}
}
