package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
)

// clusterConfig is every node's configuration file: a history long enough
// that nothing published during the test is trimmed.
var clusterConfig = fmt.Sprintf(`token:
  hmac_secret: %s
api_keys: [%s]
shutdown_timeout: 20s
namespaces:
  chat:
    history_size: 100000
    history_ttl: 1h
    recover: true
    presence: true
    join_leave: true
    allow_publish: any
    allow_presence: any
    allow_history: any
`, ht.Secret, ht.APIKey)

// engineEnv returns the environment that puts a cluster of n nodes on
// engine with a key and subject prefix of their own, common to all and then
// per node, or skips the test when the engine's server is not running
// (never under CI).
func engineEnv(t *testing.T, engine string, n int) (common []string, perNode func(i int) []string) {
	t.Helper()
	if engine == "nats-embedded" {
		return embeddedEnv(t, n)
	}
	prefix := "herald-test-" + randomID()
	none := func(int) []string { return nil }
	switch engine {
	case "redis":
		addr := services.Redis(t)
		services.CleanRedis(t, addr, prefix)
		return []string{
			"HERALD_BROKER_ENGINE=redis",
			"HERALD_BROKER_REDIS_ADDRS=" + addr,
			"HERALD_BROKER_REDIS_PREFIX=" + prefix,
		}, none
	case "nats":
		return []string{
			"HERALD_BROKER_ENGINE=nats",
			"HERALD_BROKER_NATS_URL=" + services.NATS(t),
			"HERALD_BROKER_NATS_PREFIX=" + prefix,
		}, none
	}
	t.Fatalf("unknown engine %q", engine)
	return nil, nil
}

// embeddedEnv makes every node run its own NATS server, the n of them
// routed into one cluster with three replicas of everything.
func embeddedEnv(t *testing.T, n int) ([]string, func(int) []string) {
	routes := make([]string, n)
	for i := range routes {
		routes[i] = "127.0.0.1:" + strconv.Itoa(services.FreePort(t))
	}
	dir := t.TempDir()
	common := []string{
		"HERALD_BROKER_ENGINE=nats",
		"HERALD_BROKER_NATS_REPLICAS=3",
		"HERALD_BROKER_NATS_EMBEDDED_ENABLED=true",
		"HERALD_BROKER_NATS_EMBEDDED_PEERS=" + strings.Join(routes, ","),
	}
	return common, func(i int) []string {
		return []string{
			"HERALD_BROKER_NATS_EMBEDDED_LISTEN=127.0.0.1:" + strconv.Itoa(services.FreePort(t)),
			"HERALD_BROKER_NATS_EMBEDDED_CLUSTER_LISTEN=" + routes[i],
			"HERALD_BROKER_NATS_EMBEDDED_DIR=" + filepath.Join(dir, strconv.Itoa(i)),
		}
	}
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// node is one `herald serve` process of a test cluster, restartable on its
// port.
type node struct {
	t    *testing.T
	name string
	addr string
	env  []string
	args []string
	cmd  *exec.Cmd
	logs *syncBuffer
}

// startCluster starts n nodes with the same configuration, the common
// environment and each node's own.
func startCluster(t *testing.T, n int, env []string, nodeEnv func(i int) []string) []*node {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(cfg, []byte(clusterConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := make([]*node, n)
	for i := range nodes {
		nd := &node{
			t:    t,
			name: "node-" + strconv.Itoa(i+1),
			addr: "127.0.0.1:" + strconv.Itoa(services.FreePort(t)),
		}
		nd.env = append(append([]string{"HERALD_NODE_NAME=" + nd.name}, env...), nodeEnv(i)...)
		nd.args = []string{"serve", "--config", cfg, "--address", nd.addr}
		nodes[i] = nd
		t.Cleanup(nd.kill)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range nodes {
				t.Logf("%s's log:\n%s", nd.name, nd.logs.String())
			}
		}
	})
	// Side by side: embedded NATS servers elect their leaders once enough
	// of them are up.
	errs := make(chan error, n)
	for _, nd := range nodes {
		go func() { errs <- nd.tryStart() }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// start runs the node and waits until /readyz answers 200.
func (n *node) start() {
	n.t.Helper()
	if err := n.tryStart(); err != nil {
		n.t.Fatal(err)
	}
}

// tryStart is start for any goroutine: it returns the failure.
func (n *node) tryStart() error {
	if n.logs == nil {
		n.logs = &syncBuffer{}
	}
	fmt.Fprintf(n.logs, "--- start %s\n", time.Now().Format(time.StampMilli))
	n.cmd = herald(n.t, n.env, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		return err
	}
	err := wait.Until(30*time.Second, func() error {
		resp, err := http.Get("http://" + n.addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s not ready: %v\n%s", n.name, err, n.logs.String())
	}
	return nil
}

// stop sends SIGTERM and waits for the graceful drain to finish.
func (n *node) stop() {
	n.t.Helper()
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(n.cmd, 30*time.Second); err != nil {
		n.t.Fatalf("%s after SIGTERM: %v\n%s", n.name, err, n.logs.String())
	}
	n.cmd = nil
}

func (n *node) kill() {
	if n.cmd != nil {
		n.cmd.Process.Kill()
		n.cmd.Wait()
		n.cmd = nil
	}
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// apiCall posts a server API call to addr and decodes the result.
func apiCall(client *http.Client, addr, method string, body any) (map[string]any, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/"+method, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "apikey "+ht.APIKey)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Result map[string]any `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %w", method, resp.StatusCode, err)
	}
	if out.Error != nil {
		return nil, fmt.Errorf("%s: error %d %s", method, out.Error.Code, out.Error.Message)
	}
	return out.Result, nil
}

// receiver records what one subscriber received on each channel.
type receiver struct {
	mu      sync.Mutex
	offsets map[string][]uint64
	lost    int
	// drained counts the 1001 disconnects of node restarts.
	drained int
	// events is the connection's history, shown when the test fails.
	events []string
}

func (r *receiver) state(sc client.StateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sc.State == client.StateDisconnected && sc.Code == 1001 {
		r.drained++
	}
	r.events = append(r.events, fmt.Sprintf("%s %+v", time.Now().Format("15:04:05.000"), sc))
}

func (r *receiver) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	for ch, offs := range r.offsets {
		fmt.Fprintf(&b, "  %s: %d received, last %v\n", ch, len(offs), offs[max(0, len(offs)-3):])
	}
	return b.String()
}

func (r *receiver) add(m client.Message) {
	r.mu.Lock()
	r.offsets[m.Channel] = append(r.offsets[m.Channel], m.Offset)
	r.mu.Unlock()
}

func (r *receiver) snapshot(channel string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.offsets[channel]...)
}

// TestRollingRestart is the zero-loss promise of a cluster: three nodes
// behind a load balancer, subscribers spread over them, a publisher at a
// steady rate through the server API, and every node restarted in turn
// (SIGTERM, graceful drain, start again) while traffic flows. Every
// acknowledged publication reaches every subscriber exactly once, in offset
// order.
func TestRollingRestart(t *testing.T) {
	for _, engine := range []string{"redis", "nats", "nats-embedded"} {
		t.Run(engine, func(t *testing.T) { testRollingRestart(t, engine) })
	}
}

func testRollingRestart(t *testing.T, engine string) {
	env, nodeEnv := engineEnv(t, engine, 3)
	nodes := startCluster(t, 3, env, nodeEnv)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	lb := ht.NewBalancer(t, addrs...)
	channels := []string{"chat:roll-a", "chat:roll-b", "chat:roll-c"}

	// Six subscribers, spread over the nodes by the balancer, each on
	// every channel.
	const subscribers = 6
	recv := make([]*receiver, subscribers)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range recv {
		r := &receiver{offsets: make(map[string][]uint64)}
		recv[i] = r
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("subscriber %d:\n%s", i, r)
			}
		})
		c, err := client.Dial(ctx, "ws://"+lb.Addr()+"/ws", client.Options{
			Token:   ht.Token(t, "sub-"+strconv.Itoa(i), nil),
			OnState: r.state,
			Backoff: client.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		for _, ch := range channels {
			if _, err := c.Subscribe(ctx, ch, client.SubscribeOptions{
				OnMessage:      r.add,
				OnRecoveryLost: func(client.RecoveryLost) { r.mu.Lock(); r.lost++; r.mu.Unlock() },
			}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The publisher: round robin over channels through the balancer,
	// about 150 publications a second; a publication counts once the API
	// acknowledged it with an offset.
	acked := make(map[string][]uint64)
	var ackedMu sync.Mutex
	stop := make(chan struct{})
	published := make(chan struct{})
	var failures int
	go func() {
		defer close(published)
		hc := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(time.Second / 150)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ch := channels[i%len(channels)]
			res, err := apiCall(hc, lb.Addr(), "publish", map[string]any{"channel": ch, "data": map[string]int{"n": i}})
			if err != nil {
				failures++ // not acknowledged: the client would retry
				continue
			}
			ackedMu.Lock()
			acked[ch] = append(acked[ch], uint64(res["offset"].(float64)))
			ackedMu.Unlock()
		}
	}()

	// Periods on purpose: traffic flows through each phase of the rolling
	// restart for a while.
	time.Sleep(time.Second)
	for _, n := range nodes {
		n.stop()
		time.Sleep(300 * time.Millisecond) // traffic flows on the other two
		n.start()
		time.Sleep(700 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	<-published

	total := 0
	for _, ch := range channels {
		want := acked[ch]
		total += len(want)
		if len(want) == 0 {
			t.Fatalf("nothing acknowledged on %s", ch)
		}
		for i, r := range recv {
			last := want[len(want)-1]
			ht.Eventually(t, 20*time.Second, func() bool {
				got := r.snapshot(ch)
				return len(got) > 0 && got[len(got)-1] >= last
			}, "subscriber %d to receive offset %d on %s", i, last, ch)
			got := r.snapshot(ch)
			seen := make(map[uint64]bool, len(got))
			for j, o := range got {
				if j > 0 && o <= got[j-1] {
					t.Fatalf("subscriber %d on %s: offset %d after %d (duplicate or out of order)", i, ch, o, got[j-1])
				}
				seen[o] = true
			}
			for _, o := range want {
				if !seen[o] {
					t.Fatalf("subscriber %d on %s: acknowledged offset %d never delivered", i, ch, o)
				}
			}
		}
	}
	for i, r := range recv {
		r.mu.Lock()
		if r.lost != 0 {
			t.Errorf("subscriber %d: %d recoveries lost", i, r.lost)
		}
		// Every node was restarted, so every subscriber was moved at least
		// once; otherwise the test proved nothing.
		if r.drained == 0 {
			t.Errorf("subscriber %d was never moved by a restart", i)
		}
		r.mu.Unlock()
	}
	t.Logf("%s: %d publications acknowledged (%d refused during restarts), each delivered once, in order, to %d subscribers",
		engine, total, failures, subscribers)
}

// TestEmbeddedNATSCluster runs three nodes that each embed a NATS server,
// routed into one cluster with three replicas, and nothing else: a
// publication through one node's API reaches subscribers on the other two,
// and its history is read through a third.
func TestEmbeddedNATSCluster(t *testing.T) {
	env, nodeEnv := engineEnv(t, "nats-embedded", 3)
	nodes := startCluster(t, 3, env, nodeEnv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan client.Message, 2)
	for i, n := range nodes[1:] {
		c, err := client.Dial(ctx, "ws://"+n.addr+"/ws", client.Options{Token: ht.Token(t, "u"+strconv.Itoa(i), nil)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Subscribe(ctx, "chat:embedded", client.SubscribeOptions{OnMessage: func(m client.Message) { got <- m }}); err != nil {
			t.Fatal(err)
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if _, err := apiCall(hc, nodes[0].addr, "publish", map[string]any{"channel": "chat:embedded", "data": "hi"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case m := <-got:
			if m.Offset != 1 || string(m.Data) != `"hi"` {
				t.Fatalf("message %+v", m)
			}
		case <-ctx.Done():
			t.Fatal("publication did not cross the embedded cluster")
		}
	}
	res, err := apiCall(hc, nodes[2].addr, "history", map[string]any{"channel": "chat:embedded"})
	if err != nil {
		t.Fatal(err)
	}
	if pubs, _ := res["publications"].([]any); len(pubs) != 1 {
		t.Fatalf("history through another node: %v", res)
	}
	info, err := apiCall(hc, nodes[1].addr, "info", nil)
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := info["nodes"].([]any); len(list) != 3 {
		t.Fatalf("info %v, want three nodes", info)
	}
	// The embedded servers' banners and the route errors of a cluster
	// whose peers start one by one are debug: at the default level, not a
	// line of theirs.
	for _, n := range nodes {
		if log := n.logs.String(); strings.Contains(log, "nats=embedded") {
			t.Errorf("%s's log at info level has lines of the embedded NATS server:\n%s", n.name, log)
		}
	}
}
