package admin_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/services"
)

// TestCluster runs the console on one node of two sharing a Redis broker: it
// lists both nodes, sums channel counts over them, and disconnects a user
// connected to the other node.
func TestCluster(t *testing.T) {
	addr := services.Redis(t)
	prefix := "admin-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	services.CleanRedis(t, addr, prefix)
	node := func(name string) ht.Options {
		b, err := redis.New(redis.Options{Addrs: []string{addr}, Prefix: prefix, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return ht.Options{Broker: b, Hub: hub.Config{NodeName: name, NodeInfoInterval: 100 * time.Millisecond}}
	}
	c := startConsoleWith(t, node("node-1"))
	other := ht.Start(t, node("node-2"))
	browser := c.login(t)

	here, _ := c.Connect(t, ht.Token(t, "alice", nil))
	subscribe(t, here, "chat:shared")
	there, _ := other.Connect(t, ht.Token(t, "bob", nil))
	subscribe(t, there, "chat:shared")

	var nodes []any
	ht.Eventually(t, 10*time.Second, func() bool {
		nodes, _ = c.get(t, browser, "nodes").body["nodes"].([]any)
		return len(nodes) == 2 && num(nodes[1].(map[string]any)["clients"]) == 1
	}, "both nodes listed with the other node's client")
	if nodes[0].(map[string]any)["name"] != "node-1" || nodes[1].(map[string]any)["name"] != "node-2" {
		t.Fatalf("nodes, this one first: %v", nodes)
	}
	if got := channelList(c.get(t, browser, "channels")); got != "chat:shared=2" {
		t.Fatalf("cluster channels: %q", got)
	}
	if r := c.post(t, browser, "disconnect", map[string]string{"user": "bob"}, nil); r.status != 200 {
		t.Fatalf("disconnect: %d %v", r.status, r.body)
	}
	there.ExpectClose(4502)
}
