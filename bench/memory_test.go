package bench

import "testing"

// Two workers each read the server's memory around their own half of the
// clients; the merged reading spans the lowest baseline to the highest
// loaded reading and divides by all the clients, not one worker's.
func TestMemoryMergeAcrossWorkers(t *testing.T) {
	a := &Result{Connections: 100, Memory: &Memory{Source: "VmRSS", Before: 10 << 20, After: 30 << 20, PerConnection: float64(20<<20) / 100}}
	b := &Result{Connections: 100, Memory: &Memory{Source: "VmRSS", Before: 20 << 20, After: 31 << 20, PerConnection: float64(11<<20) / 100}}
	rep := MergeReports([]*Report{{Results: []*Result{a}}, {Results: []*Result{b}}})
	m := rep.Results[0].Memory
	if m == nil || m.Before != 10<<20 || m.After != 31<<20 {
		t.Fatalf("merged memory %+v", m)
	}
	if want := float64(21<<20) / 200; m.PerConnection != want {
		t.Fatalf("per connection %.0f, want %.0f", m.PerConnection, want)
	}
	if rep.Results[0].Connections != 200 {
		t.Fatalf("connections %d", rep.Results[0].Connections)
	}
}

func TestMemoryMergeOneSided(t *testing.T) {
	m := &Memory{Before: 1, After: 2}
	if got := (*Memory)(nil).merge(m, 1); got != m {
		t.Fatalf("nil merge %+v", got)
	}
	if got := m.merge(nil, 1); got != m {
		t.Fatalf("merge nil %+v", got)
	}
}
