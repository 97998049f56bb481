package outbox_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/consume"
	"github.com/heraldhq/herald/consume/consumetest"
	"github.com/heraldhq/herald/consume/outbox"
	"github.com/heraldhq/herald/internal/logtest"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// db is a schema of the test's own on the shared PostgreSQL, with the
// outbox table created in it.
type db struct {
	t     testing.TB
	dsn   string
	pool  *pgxpool.Pool
	table string // schema-qualified
}

func newDB(t testing.TB) *db {
	t.Helper()
	dsn := services.PostgreSQL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "outbox_" + hex.EncodeToString(b)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	d := &db{t: t, dsn: dsn, pool: pool, table: schema + ".herald_outbox"}
	for _, stmt := range outbox.Schema(d.table, schema) {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return d
}

// notifyChannel is the schema's name: each test LISTENs on its own.
func (d *db) notifyChannel() string { return strings.Split(d.table, ".")[0] }

// insert inserts rows for channel with the data want[i] and the end
// marker, one transaction each, as an application would.
func (d *db) insert(channel string, want []string) {
	d.t.Helper()
	for _, w := range append(want, "end") {
		d.exec(`INSERT INTO `+d.table+` (channel, data) VALUES ($1, $2)`, channel, jsonString(w))
	}
}

func (d *db) exec(sql string, args ...any) {
	d.t.Helper()
	if _, err := d.pool.Exec(context.Background(), sql, args...); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
}

func (d *db) pending() int {
	d.t.Helper()
	var n int
	if err := d.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+d.table).Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n
}

func (d *db) waitEmpty() {
	d.t.Helper()
	wait.For(d.t, 10*time.Second, func() error {
		if n := d.pending(); n != 0 {
			return fmt.Errorf("%d rows left", n)
		}
		return nil
	})
}

// kill ends every connection of the consumer named app.
func (d *db) kill(app string) int {
	d.t.Helper()
	var n int
	if err := d.pool.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type opts struct {
	app          string // the connections' application_name
	partitions   int
	workers      int
	batch        int
	pollInterval time.Duration
}

// start runs a consumer of d's table publishing into p.
func (d *db) start(p consume.Publisher, obs consume.Observer, o opts) (stop func(), logs *logtest.Buffer) {
	d.t.Helper()
	logs = &logtest.Buffer{}
	if o.app == "" {
		o.app = "herald-test"
	}
	if o.pollInterval == 0 {
		o.pollInterval = time.Hour // notifications only, unless a test says otherwise
	}
	dsn := d.dsn + "&application_name=" + o.app
	if !strings.Contains(d.dsn, "?") {
		dsn = d.dsn + "?application_name=" + o.app
	}
	c, err := outbox.New(outbox.Config{
		DSN:           dsn,
		Table:         d.table,
		NotifyChannel: d.notifyChannel(),
		Partitions:    o.partitions,
		Workers:       o.workers,
		BatchSize:     o.batch,
		PollInterval:  o.pollInterval,
		Backoff:       consume.Backoff{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond},
		Publisher:     p,
		Observer:      obs,
		Logger:        logs.Logger(slog.LevelInfo),
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return consumetest.Run(d.t, c.Run), logs
}

// TestPublishesInOrder: rows are published in id order per channel, once
// each, woken by notifications alone (the poll is an hour away), and
// deleted.
func TestPublishesInOrder(t *testing.T) {
	d := newDB(t)
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:a", "chat:b")
	obs := &consumetest.Observer{}
	d.start(srv.Hub, obs, opts{})
	a, b := consumetest.Seq("a", 30), consumetest.Seq("b", 30)
	var wg sync.WaitGroup
	wg.Go(func() { d.insert("chat:a", a) })
	wg.Go(func() { d.insert("chat:b", b) })
	wg.Wait()
	sub.Expect("chat:a", a)
	sub.Expect("chat:b", b)
	d.waitEmpty()
	if n := obs.PublishedCount(); n != 62 {
		t.Errorf("published %d, want 62", n)
	}
}

// TestPollWithoutTrigger: with no notify trigger, the poll finds the rows.
func TestPollWithoutTrigger(t *testing.T) {
	d := newDB(t)
	d.exec(`DROP TRIGGER herald_outbox_notify ON ` + d.table)
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:p")
	d.start(srv.Hub, &consumetest.Observer{}, opts{pollInterval: 50 * time.Millisecond})
	want := consumetest.Seq("p", 5)
	d.insert("chat:p", want)
	sub.Expect("chat:p", want)
	d.waitEmpty()
}

// TestMalformedRows: rows that can never be published are skipped, logged,
// counted and deleted, and do not hold up the rows after them.
func TestMalformedRows(t *testing.T) {
	d := newDB(t)
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:m")
	obs := &consumetest.Observer{}
	_, logs := d.start(srv.Hub, obs, opts{partitions: 1, workers: 1})
	d.exec(`INSERT INTO `+d.table+` (channel, data) VALUES ('chat:m', '"m0"'), ('bad channel', '1'), ('nowhere:x', '1'), ('chat:m', $1), ('chat:m', '"m1"'), ('chat:m', '"end"')`,
		jsonString(strings.Repeat("x", 70000)))
	sub.Expect("chat:m", []string{"m0", "m1"})
	d.waitEmpty()
	if n, m := obs.SkippedCount(consume.ReasonRejected), obs.SkippedCount(consume.ReasonOversize); n != 2 || m != 1 {
		t.Errorf("skipped: %d rejected, %d oversize; want 2 and 1", n, m)
	}
	if n := len(logs.Lines("outbox row skipped")); n != 3 {
		t.Errorf("%d log lines for skipped rows, want 3:\n%s", n, logs)
	}
}

// TestBrokerDown: while Herald's engine fails, rows stay in the table and
// are retried; once it is back each is published once, in order.
func TestBrokerDown(t *testing.T) {
	d := newDB(t)
	srv, fb := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:d")
	obs := &consumetest.Observer{}
	d.start(srv.Hub, obs, opts{})
	fb.SetDown(true)
	want := consumetest.Seq("d", 10)
	d.insert("chat:d", want)
	wait.For(t, 5*time.Second, func() error {
		if n := obs.FailedCount(); n < 5 {
			return fmt.Errorf("%d failures", n)
		}
		return nil
	})
	if n := d.pending(); n != 11 {
		t.Fatalf("%d rows left while the engine was down, want 11", n)
	}
	fb.SetDown(false)
	sub.Expect("chat:d", want)
	d.waitEmpty()
}

// TestConnectionsKilled: every connection of the consumer is terminated;
// it reconnects, listens again, and publishes what comes next.
func TestConnectionsKilled(t *testing.T) {
	d := newDB(t)
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:c")
	obs := &consumetest.Observer{}
	d.start(srv.Hub, obs, opts{app: "herald-kill"})
	d.insert("chat:c", []string{"c0"})
	sub.Expect("chat:c", []string{"c0"})
	if n := d.kill("herald-kill"); n == 0 {
		t.Fatal("no connection to kill")
	}
	want := consumetest.Seq("c", 10)
	d.insert("chat:c", want)
	sub.Expect("chat:c", want)
	d.waitEmpty()
	if obs.FailedCount() == 0 {
		t.Error("the lost connections were not counted")
	}
}

// hang publishes through p until it has published after publications,
// then hangs until its context ends, as a node that stopped mid-batch.
type hang struct {
	p     consume.Publisher
	after int64
	n     atomic.Int64
	hung  chan struct{}
	once  sync.Once
}

func (h *hang) Publish(ctx context.Context, channel string, data []byte, key string) (protocol.PublishResult, error) {
	if h.n.Add(1) > h.after {
		h.once.Do(func() { close(h.hung) })
		<-ctx.Done()
		return protocol.PublishResult{}, ctx.Err()
	}
	return h.p.Publish(ctx, channel, data, key)
}

// TestNodeKilledMidBatch: a node publishes part of a batch and dies (its
// connections are terminated, its transaction rolled back); another node
// takes the partition over and publishes the whole batch again, and
// clients receive every row once, in order.
func TestNodeKilledMidBatch(t *testing.T) {
	d := newDB(t)
	srv, fb := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:k")
	h := &hang{p: srv.Hub, after: 4, hung: make(chan struct{})}
	stopA, _ := d.start(h, &consumetest.Observer{}, opts{app: "herald-a", partitions: 1, workers: 1, batch: 10})
	want := consumetest.Seq("k", 24)
	d.exec(`INSERT INTO ` + d.table + ` (channel, data) SELECT 'chat:k', to_jsonb('k' || i) FROM generate_series(0, 23) i`)
	d.insert("chat:k", nil)
	select {
	case <-h.hung:
	case <-time.After(10 * time.Second):
		t.Fatal("node A did not start the batch")
	}
	// Node B starts while A holds the partition, then A dies.
	attempts := fb.Attempts.Load()
	d.start(srv.Hub, &consumetest.Observer{}, opts{app: "herald-b", partitions: 1, workers: 1, batch: 10, pollInterval: 20 * time.Millisecond})
	if n := d.kill("herald-a"); n == 0 {
		t.Fatal("no connection of node A")
	}
	sub.Expect("chat:k", want)
	d.waitEmpty()
	if n := fb.Attempts.Load() - attempts; n < 25 {
		t.Errorf("node B published %d rows, want all 25 (the 4 A published again)", n)
	}
	stopA()
}

// TestTwoNodesKeepChannelOrder: two nodes work on one table while rows of
// eight channels are inserted side by side; each channel's rows reach
// clients once each, in insertion order.
func TestTwoNodesKeepChannelOrder(t *testing.T) {
	d := newDB(t)
	srv, _ := consumetest.Start(t)
	var channels []string
	for i := range 8 {
		channels = append(channels, fmt.Sprintf("chat:o%d", i))
	}
	sub := consumetest.Subscribe(t, srv, channels...)
	for _, app := range []string{"herald-1", "herald-2"} {
		d.start(srv.Hub, &consumetest.Observer{}, opts{app: app, partitions: 4, workers: 2, batch: 7, pollInterval: 100 * time.Millisecond})
	}
	want := consumetest.Seq("o", 40)
	var wg sync.WaitGroup
	for _, ch := range channels {
		wg.Go(func() { d.insert(ch, want) })
	}
	wg.Wait()
	for _, ch := range channels {
		sub.Expect(ch, want)
	}
	d.waitEmpty()
}

// TestRowKey: a row's own idempotency key is used: two rows with one key
// are published once.
func TestRowKey(t *testing.T) {
	d := newDB(t)
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:i")
	d.start(srv.Hub, &consumetest.Observer{}, opts{})
	d.exec(`INSERT INTO ` + d.table + ` (channel, data, idempotency_key) VALUES ('chat:i', '"i0"', 'k'), ('chat:i', '"i0"', 'k'), ('chat:i', '"end"', NULL)`)
	sub.Expect("chat:i", []string{"i0"})
	d.waitEmpty()
}
