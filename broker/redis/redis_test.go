package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var ctx = context.Background()

// fast are the options of brokers under test: a quick sweep so that the
// suite's expiry leaves come soon, short timeouts so outages show quickly.
func fast(o redis.Options) redis.Options {
	o.SweepInterval = 50 * time.Millisecond
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.HealthCheckInterval == 0 {
		o.HealthCheckInterval = 500 * time.Millisecond
	}
	return o
}

func newBroker(t testing.TB, o redis.Options) *redis.Broker {
	t.Helper()
	b, err := redis.New(fast(o))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// sharedPrefix returns a key prefix unique to this test and deletes its
// keys from the shared Redis when the test ends.
func sharedPrefix(t testing.TB, addr string) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := "herald-test-" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2})
		defer c.Close()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scanning test keys: %v", err)
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := c.Unlink(ctx, keys[:n]...).Err(); err != nil {
				t.Errorf("deleting test keys: %v", err)
				return
			}
			keys = keys[n:]
		}
	})
	return prefix
}

// TestConformance runs the suite on the shared Redis.
func TestConformance(t *testing.T) {
	addr := services.Redis(t)
	prefix := sharedPrefix(t, addr)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newBroker(t, redis.Options{Addrs: []string{addr}, Prefix: prefix})
	})
}

// TestConformanceSharded runs the suite with client-side sharding over
// three private Redis servers.
func TestConformanceSharded(t *testing.T) {
	addrs := startServers(t, 3)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newBroker(t, redis.Options{Addrs: addrs})
	})
}

// TestConformanceCluster runs the suite on a three-master Redis Cluster.
func TestConformanceCluster(t *testing.T) {
	addrs := startCluster(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newBroker(t, redis.Options{Addrs: addrs, Cluster: true})
	})
}

func startServers(t *testing.T, n int) []string {
	var addrs []string
	for range n {
		addrs = append(addrs, services.StartRedis(t).Addr())
	}
	return addrs
}

// startCluster runs three cluster-enabled servers, gives each a third of
// the slots, introduces them and waits until the cluster is ok.
func startCluster(t *testing.T) []string {
	t.Helper()
	var addrs []string
	var clients []*goredis.Client
	var bus0 int
	for i := range 3 {
		p := services.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
		if i == 0 {
			bus0 = p.BusPort
		}
		addrs = append(addrs, p.Addr())
		c := goredis.NewClient(&goredis.Options{Addr: p.Addr(), Protocol: 2})
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	const slots = 16384
	for i, c := range clients {
		lo, hi := i*slots/3, (i+1)*slots/3-1
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("add slots to %s: %v", addrs[i], err)
		}
	}
	for _, c := range clients[1:] {
		host, port, _ := strings.Cut(addrs[0], ":")
		if err := c.Do(ctx, "CLUSTER", "MEET", host, port, bus0).Err(); err != nil {
			t.Fatalf("cluster meet: %v", err)
		}
	}
	// Gossip takes its time: nothing to wait on but the clock.
	wait.For(t, 20*time.Second, func() error {
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return fmt.Errorf("cluster not ok: %s (%v)", info, err)
			}
		}
		return nil
	})
	return addrs
}

// TestSharding: each channel's keys live on exactly one server, and the
// channels spread over all of them.
func TestSharding(t *testing.T) {
	t.Parallel()
	addrs := startServers(t, 3)
	b := newBroker(t, redis.Options{Addrs: addrs, Prefix: "s"})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Another node listing the servers in another order agrees.
	other := newBroker(t, redis.Options{Addrs: []string{addrs[2], addrs[0], addrs[1]}, Prefix: "s"})
	if err := other.Run(ctx, brokertest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	clients := make([]*goredis.Client, len(addrs))
	for i, a := range addrs {
		clients[i] = goredis.NewClient(&goredis.Options{Addr: a, Protocol: 2})
		defer clients[i].Close()
	}
	const n = 60
	perServer := make([]int, len(addrs))
	for i := range n {
		ch := fmt.Sprint("channel-", i)
		keep := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
		if _, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, keep); err != nil {
			t.Fatal(err)
		}
		if _, pos, err := other.History(ctx, ch, broker.HistoryOptions{}); err != nil || pos.Offset != 1 {
			t.Fatalf("%s through the other node: %+v (%v)", ch, pos, err)
		}
		holders := 0
		for j, c := range clients {
			found, err := c.Exists(ctx, "s:c:{"+ch+"}:m", "s:c:{"+ch+"}:s").Result()
			if err != nil {
				t.Fatal(err)
			}
			if found == 2 {
				holders++
				perServer[j]++
			} else if found != 0 {
				t.Fatalf("%s split over servers", ch)
			}
		}
		if holders != 1 {
			t.Fatalf("%s kept on %d servers", ch, holders)
		}
	}
	for i, k := range perServer {
		if k < n/6 {
			t.Fatalf("server %d holds %d of %d channels: %v", i, k, n, perServer)
		}
	}
	// Control messages reach every node whichever shard carries them.
	if err := other.PublishControl(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := rec.Control([]byte("hello"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestOutage stops and restarts the Redis server under a running broker:
// calls fail quickly meanwhile, and afterwards the broker is subscribed
// again by itself, says so with HandleReconnect, and the stream has a new
// epoch since the server came back empty.
func TestOutage(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}, Timeout: time.Second, HealthCheckInterval: 200 * time.Millisecond})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	const ch = "outage"
	if err := b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	keep := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	before, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("before")}, keep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Publications(ch, 1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping before the outage: %v", err)
	}

	p.Stop()
	start := time.Now()
	if _, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("lost")}, keep); err == nil {
		t.Fatal("publish succeeded with Redis down")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("publish took %v to fail", d)
	}
	if err := b.Ping(ctx); err == nil {
		t.Fatal("ping succeeded with Redis down")
	}
	if n := rec.Reconnects(1, 0); n != 0 {
		t.Fatalf("%d reconnects while Redis is down", n)
	}

	p.Start()
	if n := rec.Reconnects(1, 10*time.Second); n != 1 {
		t.Fatalf("%d reconnects after Redis came back, want 1", n)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping after the outage: %v", err)
	}
	after, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("after")}, keep)
	if err != nil {
		t.Fatal(err)
	}
	if after.Offset != 1 || after.Epoch == before.Epoch {
		t.Fatalf("after an empty restart: %+v, want offset 1 in a new epoch (was %+v)", after, before)
	}
	got, err := rec.Publications(ch, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := got[1]; string(d.Pub.Data) != "after" || d.Pos != after {
		t.Fatalf("delivered %q at %+v, want after at %+v", d.Pub.Data, d.Pos, after)
	}
	if n := rec.Reconnects(1, 0); n != 1 {
		t.Fatalf("%d reconnects, want 1", n)
	}
}

// TestPubSubConnectionKilled: Redis drops the subscriber connection but
// keeps its data; the broker resubscribes, and the stream continues in its
// epoch.
func TestPubSubConnectionKilled(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	const ch = "killed"
	if err := b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	keep := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Hour}}
	first, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("1")}, keep)
	if err != nil {
		t.Fatal(err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: p.Addr(), Protocol: 2})
	defer admin.Close()
	if err := admin.Do(ctx, "client", "kill", "type", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	if n := rec.Reconnects(1, 10*time.Second); n != 1 {
		t.Fatalf("%d reconnects, want 1", n)
	}
	second, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("2")}, keep)
	if err != nil {
		t.Fatal(err)
	}
	if second.Offset != 2 || second.Epoch != first.Epoch {
		t.Fatalf("after the reconnect: %+v, want offset 2 in %s", second, first.Epoch)
	}
	got, err := rec.Publications(ch, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got[len(got)-1].Pos != second {
		t.Fatalf("last delivery at %+v, want %+v", got[len(got)-1].Pos, second)
	}
}

// TestKeysExpire: streams, positions and presence go from Redis by
// themselves once expired, so an idle channel costs nothing.
func TestKeysExpire(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}, Prefix: "x"})
	if err := b.Run(ctx, brokertest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	opts := broker.PublishOptions{
		Stream:         broker.StreamOptions{Size: 10, TTL: time.Minute, MetaTTL: 2 * time.Minute},
		IdempotencyKey: "k", IdempotencyTTL: 30 * time.Second,
	}
	if _, _, err := b.Publish(ctx, "c", &broker.Publication{Data: []byte("x")}, opts); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPresence(ctx, "c", &broker.ClientInfo{User: "u", Client: "c1"}, time.Second); err != nil {
		t.Fatal(err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: p.Addr(), Protocol: 2})
	defer admin.Close()
	for key, want := range map[string]time.Duration{
		"x:c:{c}:s": time.Minute, "x:c:{c}:m": 2 * time.Minute, "x:c:{c}:i:k": 30 * time.Second,
		"x:c:{c}:ph": time.Minute + time.Second, "x:c:{c}:pz": time.Minute + time.Second,
	} {
		ttl, err := admin.PTTL(ctx, key).Result()
		if err != nil || ttl <= 0 || ttl > want || ttl < want-5*time.Second {
			t.Errorf("%s: TTL %v (%v), want about %v", key, ttl, err, want)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, o := range map[string]redis.Options{
		"hash tag in prefix": {Prefix: "a{b}"},
		"server twice":       {Addrs: []string{"127.0.0.1:1", "127.0.0.1:1"}},
		"bad URL":            {Addrs: []string{"redis://:x:y@[::1"}},
	} {
		if b, err := redis.New(o); err == nil {
			b.Close()
			t.Errorf("%s: no error", name)
		}
	}
}

// TestSilentConnection: a server that stops answering without closing the
// connection (as behind a network partition) is noticed by the health
// check, and the broker recovers once it answers again.
func TestSilentConnection(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t)
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}, HealthCheckInterval: 100 * time.Millisecond})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "silent"); err != nil {
		t.Fatal(err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: p.Addr(), Protocol: 2})
	defer admin.Close()
	// Paused clients get no replies for a second: ten health intervals.
	if err := admin.Do(ctx, "client", "pause", 1000, "all").Err(); err != nil {
		t.Fatal(err)
	}
	if n := rec.Reconnects(1, 10*time.Second); n != 1 {
		t.Fatalf("%d reconnects, want 1", n)
	}
	if _, _, err := b.Publish(ctx, "silent", &broker.Publication{Data: []byte("x")}, broker.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Publications("silent", 1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
