package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestFanoutRecoverAcrossRestart: two nodes on one Redis; subscribers
// alternate between them and the API publisher starts on the first. The
// first node restarts mid-run: its subscribers reconnect to it and recover
// what was published through the second meanwhile, the publisher fails
// over to the second, and nothing is lost or duplicated. The outage is
// timed for the first node's clients.
func TestFanoutRecoverAcrossRestart(t *testing.T) {
	addr := services.Redis(t)
	prefix := "herald-bench-test-" + newRunID()
	services.CleanRedis(t, addr, prefix)
	node := func() *redis.Broker {
		b, err := redis.New(redis.Options{Addrs: []string{addr}, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	a := ht.Start(t, ht.Options{Broker: node()})
	other := ht.Start(t, ht.Options{Broker: node()})
	cfg := base(a, "fanout")
	cfg.URL, cfg.URLs = "", []string{a.WSURL, other.WSURL}
	cfg.Connections, cfg.Rate, cfg.Duration = 6, 40, 1500*time.Millisecond
	cfg.Recover, cfg.PublishVia, cfg.APIKey = true, "api", ht.APIKey
	type outcome struct {
		rep *Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := Run(context.Background(), cfg)
		done <- outcome{rep, err}
	}()
	wait.For(t, 10*time.Second, func() error {
		if n := a.Hub.Stats().Published; n < 5 {
			return fmt.Errorf("%d published through the first node", n)
		}
		return nil
	})
	// Down for three publications through the other node, then back.
	a.Stop()
	n0 := other.Hub.Stats().Published
	wait.For(t, 10*time.Second, func() error {
		if n := other.Hub.Stats().Published - n0; n < 3 {
			return fmt.Errorf("%d published through the other node", n)
		}
		return nil
	})
	a.Restart(ht.Options{})
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	r := o.rep.Results[0]
	if r.Connections != 6 || r.Published == 0 || r.Errors != 0 || r.Lost != 0 || r.Duplicates != 0 || r.Delivered != r.Expected || r.Expected != r.Published*6 {
		t.Fatalf("conns %d published %d errors %d expected %d delivered %d lost %d dups %d; reconnected %d unrecovered %d outages %+v closes %v",
			r.Connections, r.Published, r.Errors, r.Expected, r.Delivered, r.Lost, r.Duplicates, r.Reconnected, r.Unrecovered, r.Outages, r.Closes)
	}
	if r.Reconnected != 3 || r.Unrecovered != 0 || r.Recovered < 9 || len(r.Outages) != 1 {
		t.Fatalf("reconnected %d recovered %d unrecovered %d outages %+v closes %v", r.Reconnected, r.Recovered, r.Unrecovered, r.Outages, r.Closes)
	}
	if o := r.Outages[0]; o.Node != a.WSURL || o.Clients != 3 || o.NotBack != 0 || o.Seconds <= 0 || o.Seconds > 5 {
		t.Fatalf("outage %+v", o)
	}
	var table strings.Builder
	o.rep.WriteTable(&table)
	if !strings.Contains(table.String(), "outage of "+a.WSURL+": 3 clients closed, all back") || !strings.Contains(table.String(), "connect: 6 in") {
		t.Fatalf("table:\n%s", table.String())
	}
}

// TestDialerSpreadsOverNodes: clients go round robin over the nodes, each
// always to the same one, and the publishers to the first.
func TestDialerSpreadsOverNodes(t *testing.T) {
	d := &dialer{urls: []string{"a", "b", "c"}}
	var got []string
	for _, i := range []int{0, 1, 2, 3, 4, publisherID, publisherID + 1, warmupID} {
		got = append(got, d.url(i))
	}
	if strings.Join(got, "") != "abcabaaa" {
		t.Fatalf("nodes %v", got)
	}
}

// TestRecoverNeedsHeraldFanout: --recover elsewhere is refused.
func TestRecoverNeedsHeraldFanout(t *testing.T) {
	for _, cfg := range []Config{
		{Scenario: "echo", Anonymous: true, Recover: true},
		{Scenario: "fanout", Protocol: "raw", Recover: true},
	} {
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "recover") {
			t.Fatalf("%+v: %v", cfg, err)
		}
	}
	if _, err := Run(context.Background(), Config{Scenario: "fanout", Anonymous: true, URLs: []string{"ws://127.0.0.1:1/ws", "http://x"}}); err == nil || !strings.Contains(err.Error(), "http://x") {
		t.Fatalf("a bad second URL: %v", err)
	}
}

// TestReplyDecodesBeforeThen: a reply's result is decoded in the reader
// and the call's then runs there, on it, before the caller is woken.
func TestReplyDecodesBeforeThen(t *testing.T) {
	no := false
	res := &protocol.SubscribeResult{Offset: 5, Epoch: "e1", Recovered: &no, Publications: []*protocol.Publication{
		{Offset: 4, Data: payload(1, 4, publisherID, 64), JSON: true},
		{Offset: 5, Data: payload(1, 5, publisherID, 64), JSON: true},
	}}
	frame, err := encoding.AppendReply(nil, 1, protocol.TypeSubscribe, res)
	if err != nil {
		t.Fatal(err)
	}
	out := &protocol.SubscribeResult{}
	var seen []uint64
	call := &pendingCall{ch: make(chan *protocol.Error, 1), out: out, then: func() {
		for _, p := range out.Publications {
			if f, ok := parsePayload(p.Data); ok {
				seen = append(seen, f.seq)
			}
		}
	}}
	c := &conn{pending: map[uint32]*pendingCall{1: call}}
	c.onFrame(frame)
	if e := <-call.ch; e != nil {
		t.Fatal(e)
	}
	if out.Offset != 5 || out.Epoch != "e1" || out.Recovered == nil || *out.Recovered || len(seen) != 2 || seen[0] != 4 || seen[1] != 5 {
		t.Fatalf("decoded %+v, then saw %v", out, seen)
	}
}

// TestOutageClock: a node's outage runs from its first client's close to
// its last one's return; one still open at the end counts those not back.
func TestOutageClock(t *testing.T) {
	var o outageClock
	t0 := time.UnixMilli(1_000_000)
	o.closed("a", t0)
	o.closed("a", t0.Add(10*time.Millisecond))
	o.closed("b", t0.Add(20*time.Millisecond))
	o.back("a", t0.Add(300*time.Millisecond))
	o.back("a", t0.Add(500*time.Millisecond))
	o.back("a", t0.Add(600*time.Millisecond)) // not down: ignored
	o.closed("a", t0.Add(2*time.Second))      // a second outage of a
	got := o.outages(t0.Add(3 * time.Second))
	want := []Outage{
		{Node: "a", Clients: 2, Start: 1_000_000, Seconds: 0.5},
		{Node: "b", Clients: 1, Start: 1_000_020, Seconds: 2.98, NotBack: 1},
		{Node: "a", Clients: 1, Start: 1_002_000, Seconds: 1, NotBack: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outages\n%+v\nwant\n%+v", got, want)
	}
}

// TestMergeOutages: workers' outages of one node that overlap are one,
// with their clients added, until the last ended; other nodes' and
// separate ones stay apart.
func TestMergeOutages(t *testing.T) {
	w1 := []Outage{{Node: "a", Clients: 2, Start: 1000, Seconds: 1}, {Node: "a", Clients: 1, Start: 9000, Seconds: 1}}
	w2 := []Outage{{Node: "a", Clients: 3, Start: 1500, Seconds: 2, NotBack: 1}, {Node: "b", Clients: 4, Start: 1200, Seconds: 0.5}}
	got := mergeOutages(w1, w2)
	want := []Outage{
		{Node: "a", Clients: 5, Start: 1000, Seconds: 2.5, NotBack: 1},
		{Node: "b", Clients: 4, Start: 1200, Seconds: 0.5},
		{Node: "a", Clients: 1, Start: 9000, Seconds: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("merged\n%+v\nwant\n%+v", got, want)
	}
	if mergeOutages(nil, nil) != nil {
		t.Fatal("nothing merged into something")
	}
	var r Result
	r.Merge(&Result{Outages: w1, Recovered: 2, Unrecovered: 1, ConnectSeconds: 3})
	r.Merge(&Result{Outages: w2, Recovered: 5, ConnectSeconds: 2, Connections: 600})
	if len(r.Outages) != 3 || r.Recovered != 7 || r.Unrecovered != 1 || r.ConnectSeconds != 3 || r.ConnectRate != 200 {
		t.Fatalf("merged result %+v", r)
	}
}
