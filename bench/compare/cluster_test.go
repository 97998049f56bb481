package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseTrees(t *testing.T) {
	ts, err := parseTrees("new=.,old=../old")
	if err != nil || len(ts) != 2 || ts[1] != (tree{"old", "../old"}) {
		t.Fatalf("parseTrees = %v, %v", ts, err)
	}
	for _, bad := range []string{"", "new", "=.", "new=", "a=.,a=../b"} {
		if _, err := parseTrees(bad); err == nil {
			t.Errorf("parseTrees(%q) accepted", bad)
		}
	}
}

func TestParseRates(t *testing.T) {
	rs, err := parseRates("400, 200,300")
	if err != nil || len(rs) != 3 || rs[0] != 200 || rs[2] != 400 {
		t.Fatalf("parseRates = %v, %v", rs, err)
	}
	for _, bad := range []string{"", "x", "100,0", "-5"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}

func TestClusterConfigHistory(t *testing.T) {
	with, err := clusterHeraldConfig(true)
	if err != nil || !strings.Contains(with, "history_size:") {
		t.Fatalf("with history: %v\n%s", err, with)
	}
	without, err := clusterHeraldConfig(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"history_size:", "history_ttl:", "recover:"} {
		if strings.Contains(without, key) {
			t.Errorf("without history, the configuration still has %s:\n%s", key, without)
		}
	}
	if !strings.Contains(without, "allow_publish: any") {
		t.Errorf("without history, the namespace lost its other settings:\n%s", without)
	}
}

func TestPortOf(t *testing.T) {
	if p, err := portOf("127.0.0.1:8300"); err != nil || p != 8300 {
		t.Fatalf("portOf = %d, %v", p, err)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:x", "127.0.0.1:0", "127.0.0.1:65535"} {
		if _, err := portOf(bad); err == nil {
			t.Errorf("portOf(%q) accepted", bad)
		}
	}
}

// TestMaxRate: the highest rate passed below the first failure, whatever
// passes above it (a lucky run past saturation is not a sustainable rate).
func TestMaxRate(t *testing.T) {
	bound := 100 * time.Millisecond
	run := func(round int, rate float64, p99 float64, lost uint64) clusterRun {
		return clusterRun{Round: round, Tree: "new", Rate: rate, Published: uint64(rate), Requested: uint64(rate),
			Delivered: 1, Lost: lost, P99: p99, NodeCPU: []float64{1, 1}}
	}
	all := []clusterRun{
		run(1, 200, 20, 0), run(1, 300, 50, 0), run(1, 400, 150, 0), run(1, 600, 60, 0),
		run(2, 200, 20, 0), run(2, 300, 30, 0),
		run(3, 200, 20, 5),
	}
	for round, want := range map[int]string{1: "300", 2: "≥ 300", 3: "< 200", 4: "–"} {
		if got := maxRate(all, round, "new", bound); got != want {
			t.Errorf("round %d: maxRate = %q, want %q", round, got, want)
		}
	}
	short := run(1, 200, 20, 0)
	short.Published = 150
	if short.passed(bound) {
		t.Error("a run that published 150 of 200 passed")
	}
}

func TestFindBrokerPIDRejectsUnknownEngine(t *testing.T) {
	if _, err := findBrokerPID("memcached"); err == nil {
		t.Error("findBrokerPID accepted an unknown engine")
	}
}

// TestEnsureFree: a port something listens on is refused before a server
// is started on it, and a free one is accepted.
func TestEnsureFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ensureFree(addr); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("a port in use: %v", err)
	}
	ln.Close()
	if err := ensureFree(addr); err != nil {
		t.Fatalf("a free port: %v", err)
	}
}
