package hub

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// A cluster's nodes know of each other through the broker alone: each
// publishes its NodeInfo every NodeInfoInterval as a control message, and a
// node not heard from for three intervals is taken for gone. A node hearing
// from a new one reports at once, so a node that starts knows the others
// within a round trip rather than an interval. The info API
// lists the nodes known; the channels API surveys them.

// nodeStale is how many report intervals a node may miss before it is
// dropped.
const nodeStale = 3

// surveyTimeout bounds how long a channels survey waits for nodes that do
// not answer (one may have died since its last report).
const surveyTimeout = 2 * time.Second

// nodeRegistry holds the other nodes' last reports.
type nodeRegistry struct {
	mu    sync.Mutex
	nodes map[string]knownNode // by node id
}

type knownNode struct {
	info NodeInfo
	seen time.Time
}

// report records another node's report, and reports whether the node was
// new. A report without info counts as a goodbye.
func (r *nodeRegistry) report(self, from string, info *NodeInfo) (isNew bool) {
	if from == "" || from == self {
		return false
	}
	if info == nil {
		r.leave(self, from)
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nodes == nil {
		r.nodes = make(map[string]knownNode)
	}
	_, known := r.nodes[from]
	r.nodes[from] = knownNode{info: *info, seen: time.Now()}
	return !known
}

// leave forgets a node that said goodbye.
func (r *nodeRegistry) leave(self, from string) {
	if from == self {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.nodes, from)
}

// live returns the reports of nodes heard from since cutoff, by node id, and
// forgets the others.
func (r *nodeRegistry) live(cutoff time.Time) map[string]NodeInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]NodeInfo, len(r.nodes))
	for id, n := range r.nodes {
		if n.seen.Before(cutoff) {
			delete(r.nodes, id)
			continue
		}
		out[id] = n.info
	}
	return out
}

func (h *Hub) liveNodes() map[string]NodeInfo {
	return h.nodes.live(time.Now().Add(-nodeStale * h.cfg.NodeInfoInterval))
}

// reportLoop publishes this node's info every NodeInfoInterval, and a
// goodbye when the hub stops.
func (h *Hub) reportLoop() {
	t := time.NewTicker(h.cfg.NodeInfoInterval)
	defer t.Stop()
	for {
		h.report()
		select {
		case <-h.life.done():
			h.goodbye()
			return
		case <-t.C:
		}
	}
}

// report publishes this node's info.
func (h *Hub) report() {
	ctx, cancel := h.brokerContext()
	defer cancel()
	info := h.Info()
	h.publishReport(ctx, nodeReport{From: h.id, Node: &info})
}

// goodbye tells the other nodes this one is leaving; Shutdown has
// cancelled the hub's context, so it has a bounded one of its own.
func (h *Hub) goodbye() {
	ctx, cancel := h.cleanupContext()
	defer cancel()
	h.publishReport(ctx, nodeLeft{From: h.id})
}

// publishReport sends a report or a goodbye. Failures are logged once per
// outage, not every tick: the next tick tries again.
func (h *Hub) publishReport(ctx context.Context, m controlMessage) {
	data, err := encodeControl(m)
	if err == nil {
		err = h.broker.PublishControl(ctx, data)
	}
	if err != nil {
		h.reportLog.Fail(err)
	} else {
		h.reportLog.OK()
	}
}

// Nodes describes every live node of the cluster, this one first, then the
// others by name.
func (h *Hub) Nodes() []NodeInfo {
	others := slices.Collect(maps.Values(h.liveNodes()))
	slices.SortFunc(others, func(a, b NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return append([]NodeInfo{h.Info()}, others...)
}

// ClusterChannels returns the active channels of the whole cluster matching
// pattern (as Channels) with their subscriber counts summed over nodes. It
// asks every live node and waits for their answers, at most surveyTimeout:
// a node that does not answer in time is left out.
func (h *Hub) ClusterChannels(ctx context.Context, pattern string) (map[string]int, error) {
	out := h.Channels(pattern)
	others := h.liveNodes()
	if len(others) == 0 {
		return out, nil
	}
	id := newClientID()
	replies := h.surveys.open(id)
	defer h.surveys.close(id)
	if err := h.sendControl(ctx, channelsSurvey{From: h.id, ID: id, Pattern: pattern}); err != nil {
		return nil, err
	}
	timer := time.NewTimer(surveyTimeout)
	defer timer.Stop()
	for answered := make(map[string]bool); len(answered) < len(others); {
		select {
		case r := <-replies:
			if _, known := others[r.From]; !known || answered[r.From] {
				continue
			}
			answered[r.From] = true
			for ch, n := range r.Channels {
				out[ch] += n
			}
		case <-timer.C:
			h.log.Warn("channels survey: nodes did not answer", "asked", len(others), "answered", len(answered))
			return out, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// answerChannels replies to another node's channels survey.
func (h *Hub) answerChannels(ctx context.Context, survey channelsSurvey) {
	_ = h.sendControl(ctx, channelsReply{
		From: h.id, To: survey.From, ID: survey.ID,
		Channels: h.Channels(survey.Pattern),
	})
}

// surveys routes survey replies to the call waiting for them.
type surveys struct {
	mu      sync.Mutex
	waiting map[string]chan channelsReply
}

func (s *surveys) open(id string) <-chan channelsReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting == nil {
		s.waiting = make(map[string]chan channelsReply)
	}
	// Room for a large cluster's answers, so reply never blocks delivery.
	ch := make(chan channelsReply, 256)
	s.waiting[id] = ch
	return ch
}

func (s *surveys) close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiting, id)
}

// reply hands a reply to its survey, if it is this node's and still open.
func (s *surveys) reply(self string, r channelsReply) {
	if r.To != self {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.waiting[r.ID]; ch != nil {
		select {
		case ch <- r:
		default:
		}
	}
}
