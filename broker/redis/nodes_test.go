package redis_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
)

// TestNodes runs two brokers (two Herald nodes) on each topology: what one
// publishes, sends or announces reaches the other, and an expired presence
// entry is announced once even though both nodes sweep its channel.
func TestNodes(t *testing.T) {
	topologies := map[string]func(t *testing.T) redis.Options{
		"single": func(t *testing.T) redis.Options {
			addr := services.Redis(t)
			return redis.Options{Addrs: []string{addr}, Prefix: sharedPrefix(t, addr)}
		},
		"sharded": func(t *testing.T) redis.Options { return redis.Options{Addrs: startServers(t, 3)} },
		"cluster": func(t *testing.T) redis.Options { return redis.Options{Addrs: startCluster(t), Cluster: true} },
	}
	for name, opts := range topologies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := opts(t)
			a, b := newBroker(t, o), newBroker(t, o)
			recA, recB := brokertest.NewRecorder(), brokertest.NewRecorder()
			if err := a.Run(ctx, recA); err != nil {
				t.Fatal(err)
			}
			if err := b.Run(ctx, recB); err != nil {
				t.Fatal(err)
			}
			testAcrossNodes(t, a, b, recA, recB)
		})
	}
}

func testAcrossNodes(t *testing.T, a, b *redis.Broker, recA, recB *brokertest.Recorder) {
	const ch, user = "nodes-channel", "nodes-user"
	for _, n := range []*redis.Broker{a, b} {
		if err := n.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	keep := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	pos, _, err := a.Publish(ctx, ch, &broker.Publication{Data: []byte("from a")}, keep)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*brokertest.Recorder{recA, recB} {
		got, err := rec.Publications(ch, 1, 5*time.Second)
		if err != nil || string(got[0].Pub.Data) != "from a" || got[0].Pos != pos {
			t.Fatalf("publication: %+v (%v), want at %+v", got, err, pos)
		}
	}
	if _, err := b.Send(ctx, user, &broker.Publication{Data: []byte("dm")}, broker.StreamOptions{Size: 10, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishControl(ctx, []byte("nodes-control")); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*brokertest.Recorder{recA, recB} {
		if got, err := rec.Directs(user, 1, 5*time.Second); err != nil || string(got[0].Pub.Data) != "dm" || got[0].Pos.Offset != 1 {
			t.Fatalf("direct: %+v (%v)", got, err)
		}
		if err := rec.Control([]byte("nodes-control"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	// A client of a node that crashed: nobody refreshes or removes it.
	crashed := &broker.ClientInfo{User: "carol", Client: "crashed"}
	if err := a.AddPresence(ctx, ch, crashed, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Presence(ctx, ch); err != nil || p["crashed"] == nil {
		t.Fatalf("presence through the other node: %v (%v)", p, err)
	}
	for _, rec := range []*brokertest.Recorder{recA, recB} {
		if got, err := rec.Leaves(ch, 1, 5*time.Second); err != nil || got[0].Client != "crashed" {
			t.Fatalf("leaves %+v (%v)", got, err)
		}
	}
	// Both nodes sweep every 50ms: a period on purpose, for several sweeps
	// to pass, then a marker on the same pub/sub channel shows whether a
	// second leave was sent.
	time.Sleep(300 * time.Millisecond)
	marker := &broker.ClientInfo{User: "m", Client: "marker"}
	if err := a.PublishLeave(ctx, ch, marker); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*brokertest.Recorder{recA, recB} {
		got, err := rec.Leaves(ch, 2, 5*time.Second)
		if err != nil || len(got) != 2 || got[1].Client != "marker" {
			t.Fatalf("leaves %+v (%v), want the crashed client's once, then the marker", got, err)
		}
	}
}
