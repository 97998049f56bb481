package bench

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Outage is one node's clients away: from the first one the server closed
// to the moment every one of them was connected and subscribed again (a
// node's restart, with Config.Recover).
type Outage struct {
	// Node is the WebSocket URL the clients reconnect to.
	Node string `json:"node"`
	// Clients counts the closes in the outage.
	Clients int `json:"clients"`
	// Start is when the first client was closed, in Unix milliseconds.
	Start int64 `json:"start_unix_ms"`
	// Seconds is how long until the last one was back.
	Seconds float64 `json:"seconds"`
	// NotBack counts the clients still away when the run ended; Seconds
	// then runs to the end.
	NotBack int `json:"not_back,omitempty"`
}

// end is when the outage ended, in Unix milliseconds.
func (o Outage) end() int64 { return o.Start + int64(o.Seconds*1000) }

// outageClock times outages per node. Safe for concurrent use.
type outageClock struct {
	mu   sync.Mutex
	open map[string]*Outage
	down map[string]int
	done []Outage
}

// closed notes that one of node's clients was closed at t.
func (o *outageClock) closed(node string, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.open == nil {
		o.open, o.down = map[string]*Outage{}, map[string]int{}
	}
	if o.down[node] == 0 {
		o.open[node] = &Outage{Node: node, Start: t.UnixMilli()}
	}
	o.down[node]++
	o.open[node].Clients++
}

// back notes that one of node's closed clients is back at t.
func (o *outageClock) back(node string, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down[node] == 0 {
		return
	}
	o.down[node]--
	if o.down[node] == 0 {
		out := o.open[node]
		out.Seconds = float64(t.UnixMilli()-out.Start) / 1000
		o.done = append(o.done, *out)
		delete(o.open, node)
	}
}

// outages returns the outages so far, those still open ending at t with
// the clients not back, in order of start.
func (o *outageClock) outages(t time.Time) []Outage {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := slices.Clone(o.done)
	for node, op := range o.open {
		c := *op
		c.Seconds = float64(t.UnixMilli()-c.Start) / 1000
		c.NotBack = o.down[node]
		out = append(out, c)
	}
	sortOutages(out)
	return out
}

func sortOutages(os []Outage) {
	slices.SortFunc(os, func(a, b Outage) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.Node, b.Node))
	})
}

// mergeOutages combines workers' outages of the same nodes: outages of one
// node that overlap in time are one outage of their clients together,
// lasting until the last of them ended.
func mergeOutages(a, b []Outage) []Outage {
	all := append(slices.Clone(a), b...)
	if len(all) == 0 {
		return nil
	}
	sortOutages(all)
	var out []Outage
	last := map[string]int{} // node → index in out of its latest outage
	for _, o := range all {
		i, ok := last[o.Node]
		if ok && o.Start <= out[i].end() {
			m := &out[i]
			end := max(m.end(), o.end())
			m.Clients += o.Clients
			m.NotBack += o.NotBack
			m.Seconds = float64(end-m.Start) / 1000
			continue
		}
		last[o.Node] = len(out)
		out = append(out, o)
	}
	return out
}
