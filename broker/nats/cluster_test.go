package nats

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/nats/embed"
	"github.com/heraldhq/herald/internal/services"
)

// startCluster runs three embedded servers routed to each other in this
// process, as three Herald nodes would, and waits for JetStream's meta
// leader. The route ports are picked free and then bound by the servers,
// so another process may take one in between: a start that fails is
// tried again on fresh ports.
func startCluster(t *testing.T) []*embed.Server {
	t.Helper()
	var err error
	for range 3 {
		var servers []*embed.Server
		if servers, err = tryCluster(t); err == nil {
			return servers
		}
		t.Logf("cluster start: %v; again on other ports", err)
	}
	t.Fatal(err)
	return nil
}

func tryCluster(t *testing.T) ([]*embed.Server, error) {
	var ports []int
	var peers []string
	for range 3 {
		ports = append(ports, services.FreePort(t))
		peers = append(peers, fmt.Sprintf("127.0.0.1:%d", ports[len(ports)-1]))
	}
	servers := make([]*embed.Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() {
			servers[i], errs[i] = embed.Start(embed.Options{
				Dir:         t.TempDir(),
				ServerName:  fmt.Sprint("n", i),
				Port:        -1,
				ClusterHost: "127.0.0.1",
				ClusterPort: ports[i],
				Peers:       peers,
				// Three servers with JetStream starting at once on a
				// loaded machine: more than a lone server's default.
				StartTimeout: 30 * time.Second,
			})
		})
	}
	wg.Wait()
	shutdown := func() {
		for _, s := range servers {
			if s != nil {
				s.Shutdown()
			}
		}
	}
	for i := range servers {
		if errs[i] != nil {
			shutdown()
			return nil, errs[i]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Ready(ctx); err != nil {
			shutdown()
			return nil, err
		}
	}
	for _, s := range servers {
		t.Cleanup(s.Shutdown)
	}
	return servers, nil
}

func clusterBroker(t testing.TB, s *embed.Server, prefix string) (*Broker, error) {
	o := testOptions("", prefix)
	o.Replicas = 3
	o.Timeout = 10 * time.Second // a request during a leader election on a loaded machine
	o.ConnOptions = []natsgo.Option{s.InProcess()}
	return New(o)
}

// waitInterest returns once subscriptions made on node to before the call
// are known to node from: a probe subscribed on to receives a message
// published on from, and a route carries interest in order.
func waitInterest(t *testing.T, from, to *embed.Server) {
	t.Helper()
	sc, err := natsgo.Connect("", to.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	probe, err := sc.SubscribeSync("interest-probe")
	if err != nil || sc.Flush() != nil {
		t.Fatalf("probe subscribe: %v", err)
	}
	pc, err := natsgo.Connect("", from.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		_ = pc.Publish("interest-probe", nil)
		_ = pc.Flush()
		if _, err := probe.NextMsg(100 * time.Millisecond); err == nil {
			return
		}
	}
	t.Fatalf("interest from %s never reached %s", to.Name(), from.Name())
}

// TestCluster: three embedded servers form a cluster; streams replicated
// three times carry a publish made through node A to a subscriber on node
// C, and node B reads it from history. Then the suite runs across the
// cluster, each subtest's broker on one of the nodes.
func TestCluster(t *testing.T) {
	servers := startCluster(t)
	var bs []*Broker
	for _, s := range servers {
		b, err := clusterBroker(t, s, "herald")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		bs = append(bs, b)
	}
	a, nb, c := bs[0], bs[1], bs[2]
	rec := brokertest.NewRecorder()
	if err := c.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, "smoke"); err != nil {
		t.Fatal(err)
	}
	// Core NATS forwards a publish only to nodes whose interest has
	// arrived; a subscription's interest crosses the cluster a moment
	// after the subscribe returns.
	waitInterest(t, servers[0], servers[2])
	pos, _, err := a.Publish(ctx, "smoke", &broker.Publication{Data: []byte("hello")}, keep(10))
	if err != nil || pos.Offset != 1 {
		t.Fatalf("publish on A: %+v (%v)", pos, err)
	}
	if got, err := rec.Publications("smoke", 1, 10*time.Second); err != nil || string(got[0].Pub.Data) != "hello" || got[0].Pos != pos {
		t.Fatalf("delivery on C: %v", err)
	}
	pubs, p, err := nb.History(ctx, "smoke", broker.HistoryOptions{})
	if err != nil || p != pos || len(pubs) != 1 || string(pubs[0].Data) != "hello" {
		t.Fatalf("history on B: %d publications at %+v (%v)", len(pubs), p, err)
	}

	t.Run("Conformance", func(t *testing.T) {
		var mu sync.Mutex
		next := 0
		brokertest.Run(t, func(t *testing.T) broker.Broker {
			mu.Lock()
			s := servers[next%len(servers)]
			next++
			mu.Unlock()
			b, err := clusterBroker(t, s, "herald")
			if err != nil {
				t.Fatal(err)
			}
			return b
		})
	})
}
