// Package outbox publishes the rows of a PostgreSQL outbox table into
// Herald: the application inserts a row (channel, data, an optional
// idempotency key) in the same transaction as its business data, and the
// consumer publishes it through the hub once that transaction commits,
// then deletes it.
//
// Ordering with several nodes: rows are split into Config.Partitions
// partitions by a hash of their channel, computed by PostgreSQL
// ((hashtext(channel) & 2147483647) % partitions), so all rows of a
// channel are in one partition. A node works on a partition only inside a
// transaction that holds the partition's advisory lock
// (pg_try_advisory_xact_lock): it claims the partition's oldest rows
// (ORDER BY id, FOR UPDATE SKIP LOCKED), publishes them one by one in id
// order, deletes them and commits, which releases the lock. Two nodes
// never work on one partition at once, so no row of a channel is
// published before an older one is done, while different partitions are
// worked on by different nodes side by side. A node that dies mid-batch
// loses its connection, PostgreSQL rolls its transaction back and releases
// the lock, and the next claimer publishes the batch again from its first
// row; each row's idempotency key (its own, or "outbox:<id>") keeps
// clients from receiving what was published before twice.
//
// While Herald's engine fails, the rows published so far are deleted, the
// transaction ends (no transaction is kept open through an outage) and the
// partition is tried again with backoff; the row that failed and those
// after it stay in the table.
//
// LISTEN/NOTIFY wakes the workers as soon as a row is committed (the table
// Herald creates has a trigger that notifies); a poll every
// Config.PollInterval finds rows without it (a trigger not installed, a
// notification missed while the listening connection was down).
package outbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/consume"
)

// Config configures a Consumer. Zero values take the defaults given.
type Config struct {
	// DSN is the PostgreSQL connection string (URL or key=value).
	// Required.
	DSN string
	// Table is the outbox table, optionally schema-qualified
	// ("app.herald_outbox"). Default "herald_outbox".
	Table string
	// CreateTable creates the table, its index and its notify trigger
	// when they do not exist.
	CreateTable bool
	// NotifyChannel is the channel LISTENed on for new rows. Default
	// "herald_outbox".
	NotifyChannel string
	// Partitions is how many partitions rows are split into: the most
	// claimers that can work side by side. Every node must use the same
	// value. Default 16.
	Partitions int
	// Workers is how many partitions this node works on at a time, each
	// with a connection. Default 4.
	Workers int
	// BatchSize is how many rows a claim takes: a worker's work in
	// flight. Default 100.
	BatchSize int
	// PollInterval is how often the table is read without a notification.
	// Default 1s.
	PollInterval time.Duration
	// MaxDataSize caps a row's data; larger rows are skipped (deleted).
	// Default 65536.
	MaxDataSize int
	// Backoff spaces the attempts while Herald's engine or PostgreSQL
	// fails. Default consume.DefaultBackoff.
	Backoff consume.Backoff
	// Publisher is where rows are published: the hub. Required.
	Publisher consume.Publisher
	// Observer is told what the consumer does. Default: nothing.
	Observer consume.Observer
	// Logger logs skipped rows and failures. Default slog.Default().
	Logger *slog.Logger
}

// maxLagCount caps the pending rows counted for the lag metric, so that a
// huge backlog does not make each count a long scan.
const maxLagCount = 100000

// Consumer publishes an outbox table's rows. Create it with New, start it
// with Run.
type Consumer struct {
	cfg     Config
	pool    *pgxpool.Pool
	table   string // quoted
	lockKey int32  // the advisory locks' first key: the table's
	claim   string
	remove  string
	lag     string
	wake    []chan struct{} // one per worker
}

// New checks cfg and creates the connection pool (no connection is made
// before Run).
func New(cfg Config) (*Consumer, error) {
	if cfg.DSN == "" {
		return nil, errors.New("outbox: no dsn")
	}
	if cfg.Publisher == nil {
		return nil, errors.New("outbox: no publisher")
	}
	if cfg.Table == "" {
		cfg.Table = "herald_outbox"
	}
	if cfg.NotifyChannel == "" {
		cfg.NotifyChannel = "herald_outbox"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 16
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	cfg.Workers = min(cfg.Workers, cfg.Partitions)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.MaxDataSize <= 0 {
		cfg.MaxDataSize = 65536
	}
	if cfg.Backoff == (consume.Backoff{}) {
		cfg.Backoff = consume.DefaultBackoff
	}
	if cfg.Observer == nil {
		cfg.Observer = consume.NopObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("consumer", "outbox")
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// The error may quote the DSN, password included.
		return nil, errors.New("outbox: dsn does not parse")
	}
	pc.MaxConns = int32(cfg.Workers + 1) // and one for the lag count
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	c := &Consumer{cfg: cfg, pool: pool, table: pgx.Identifier(strings.Split(cfg.Table, ".")).Sanitize()}
	h := fnv.New32a()
	h.Write([]byte(cfg.Table))
	c.lockKey = int32(h.Sum32())
	c.claim = `SELECT id, channel, data, idempotency_key FROM ` + c.table +
		` WHERE (hashtext(channel) & 2147483647) % $1 = $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`
	c.remove = `DELETE FROM ` + c.table + ` WHERE id = ANY($1)`
	c.lag = fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %d) pending`, c.table, maxLagCount)
	c.wake = make([]chan struct{}, cfg.Workers)
	for i := range c.wake {
		c.wake[i] = make(chan struct{}, 1)
	}
	return c, nil
}

// Schema returns the statements that create the outbox table, its index
// and its notify trigger when they do not exist (as CreateTable does).
func Schema(table, notifyChannel string) []string {
	q := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	parts := strings.Split(table, ".")
	base := parts[len(parts)-1]
	fn := append(parts[:len(parts)-1:len(parts)-1], base+"_notify")
	fnq := pgx.Identifier(fn).Sanitize()
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + q + ` (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         text   NOT NULL,
    data            jsonb  NOT NULL,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now()
)`,
		`CREATE OR REPLACE FUNCTION ` + fnq + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(` + quoteLiteral(notifyChannel) + `, '');
    RETURN NULL;
END $$`,
		`CREATE OR REPLACE TRIGGER ` + pgx.Identifier{base + "_notify"}.Sanitize() + ` AFTER INSERT ON ` + q +
			` FOR EACH STATEMENT EXECUTE FUNCTION ` + fnq + `()`,
	}
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Run works until ctx ends, then finishes the batches in progress (rows
// published are deleted, the others stay) and closes its connections.
// It returns an error only when the table cannot be created.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.pool.Close()
	if c.cfg.CreateTable {
		if err := c.create(ctx); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	for w := range c.cfg.Workers {
		wg.Go(func() { c.worker(ctx, w) })
	}
	wg.Go(func() { c.listen(ctx) })
	wg.Go(func() { c.poll(ctx) })
	wg.Wait()
	return nil
}

func (c *Consumer) create(ctx context.Context) error {
	for _, stmt := range Schema(c.cfg.Table, c.cfg.NotifyChannel) {
		var err error
		for delay := time.Duration(0); ; {
			if _, err = c.pool.Exec(ctx, stmt); err == nil || ctx.Err() != nil {
				break
			}
			var pgErr interface{ SQLState() string }
			if errors.As(err, &pgErr) {
				break // PostgreSQL answered: retrying will not help
			}
			c.cfg.Logger.Warn("cannot reach PostgreSQL to create the outbox table, retrying", "err", err)
			delay = c.cfg.Backoff.Next(delay)
			consume.Sleep(ctx, delay)
		}
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("outbox: creating %s: %w", c.cfg.Table, err)
		}
	}
	return nil
}

// wakeAll tells every worker to look for rows.
func (c *Consumer) wakeAll() {
	for _, ch := range c.wake {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// poll wakes the workers every PollInterval and counts the lag.
func (c *Consumer) poll(ctx context.Context) {
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		var n int64
		if err := c.pool.QueryRow(ctx, c.lag).Scan(&n); err == nil {
			c.cfg.Observer.Lag(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.wakeAll()
		}
	}
}

// listen holds a connection that LISTENs on the notify channel and wakes
// the workers on each notification, reconnecting with backoff when it is
// lost (the workers are woken then too: a notification may have been
// missed).
func (c *Consumer) listen(ctx context.Context) {
	var delay time.Duration
	for ctx.Err() == nil {
		err := c.listenOnce(ctx, &delay)
		if ctx.Err() != nil {
			return
		}
		c.cfg.Observer.Failed()
		if delay == 0 {
			c.cfg.Logger.Warn("outbox notifications lost, reconnecting; polling meanwhile", "err", err)
		}
		delay = c.cfg.Backoff.Next(delay)
		consume.Sleep(ctx, delay)
	}
}

func (c *Consumer) listenOnce(ctx context.Context, delay *time.Duration) error {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is left LISTENing: it leaves the pool and is closed,
	// not reused.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{c.cfg.NotifyChannel}.Sanitize()); err != nil {
		return err
	}
	if *delay > 0 {
		c.cfg.Logger.Info("outbox notifications back")
		*delay = 0
	}
	c.wakeAll()
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return err
		}
		c.wakeAll()
	}
}

// worker works on the partitions p with p % Workers == w, claiming batches
// until none has rows, then waits to be woken.
func (c *Consumer) worker(ctx context.Context, w int) {
	var delay time.Duration
	for ctx.Err() == nil {
		busy, failed := false, false
		for p := w; p < c.cfg.Partitions && ctx.Err() == nil; p += c.cfg.Workers {
			n, err := c.batch(ctx, p)
			if err != nil && ctx.Err() == nil {
				failed = true
				c.cfg.Observer.Failed()
				if delay == 0 {
					c.cfg.Logger.Warn("outbox batch failed, retrying", "partition", p, "err", err)
				}
			}
			busy = busy || n > 0
		}
		switch {
		case failed:
			delay = c.cfg.Backoff.Next(delay)
			consume.Sleep(ctx, delay)
		case busy:
			delay = 0
		default:
			delay = 0
			select {
			case <-ctx.Done():
			case <-c.wake[w]:
			}
		}
	}
}

type row struct {
	id      int64
	channel string
	data    []byte
	key     *string
}

// batch claims partition p's oldest rows, publishes them in order and
// deletes those it is done with, in one transaction holding the
// partition's advisory lock. It returns how many rows it finished
// (published or skipped), 0 when another node holds the partition or it
// has no rows, and an error when PostgreSQL or Herald's engine failed.
func (c *Consumer) batch(ctx context.Context, p int) (int, error) {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	// The end of the transaction runs even when ctx ends, so that what
	// was published is deleted; it is bounded on its own.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	defer tx.Rollback(ectx) //nolint:errcheck // after Commit, a no-op
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, c.lockKey, int32(p)).Scan(&locked); err != nil {
		return 0, err
	}
	if !locked {
		return 0, nil // another node works on p now; it will go on until p is empty
	}
	rows, err := tx.Query(ctx, c.claim, c.cfg.Partitions, p, c.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	var batch []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.channel, &r.data, &r.key); err != nil {
			rows.Close()
			return 0, err
		}
		batch = append(batch, r)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, tx.Commit(ectx)
	}
	done := make([]int64, 0, len(batch))
	var pubErr error
	for _, r := range batch {
		if err := c.publish(ctx, r); err != nil {
			pubErr = err
			break
		}
		done = append(done, r.id)
	}
	if len(done) > 0 {
		if _, err := tx.Exec(ectx, c.remove, done); err != nil {
			return 0, err // rolled back: the rows are published again, and dropped by their keys
		}
	}
	if err := tx.Commit(ectx); err != nil {
		return 0, err
	}
	return len(done), pubErr
}

// publish publishes one row, or skips it (nil) when it can never be
// published.
func (c *Consumer) publish(ctx context.Context, r row) error {
	m := consume.Message{Channel: r.channel, Data: r.data}
	if r.key != nil && *r.key != "" {
		m.IdempotencyKey = *r.key
	} else {
		m.IdempotencyKey = DefaultKey(r.id)
	}
	if r.data == nil {
		c.skip(r, consume.ReasonMalformed, errors.New("data is NULL"))
		return nil
	}
	if len(r.data) > c.cfg.MaxDataSize {
		c.skip(r, consume.ReasonOversize, fmt.Errorf("%d bytes of data, more than %d", len(r.data), c.cfg.MaxDataSize))
		return nil
	}
	err := consume.PublishOnce(ctx, c.cfg.Publisher, m)
	var rej *consume.Rejected
	switch {
	case err == nil:
		c.cfg.Observer.Published()
		return nil
	case errors.As(err, &rej):
		c.skip(r, consume.ReasonRejected, err)
		return nil
	}
	return err
}

func (c *Consumer) skip(r row, reason string, err error) {
	c.cfg.Observer.Skipped(reason)
	c.cfg.Logger.Warn("outbox row skipped and deleted", "reason", reason, "id", r.id, "channel", r.channel, "err", err)
}

// DefaultKey is the idempotency key of a row without one: "outbox:<id>".
func DefaultKey(id int64) string {
	return fmt.Sprintf("outbox:%d", id)
}
