package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/services"
)

// TestServeRunsConsumers: herald serve, configured through the
// environment, publishes what is written to a Kafka topic and to an
// outbox table it creates, and stops the consumers on SIGTERM.
func TestServeRunsConsumers(t *testing.T) {
	dsn := services.PostgreSQL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "serve_" + hex.EncodeToString(b)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	cmd, addr, _ := startServeEnv(t, []string{
		"HERALD_CONSUMERS_KAFKA_ENABLED=true",
		"HERALD_CONSUMERS_KAFKA_BROKERS=" + kc.ListenAddrs()[0],
		"HERALD_CONSUMERS_KAFKA_TOPICS=events=feed:k",
		"HERALD_CONSUMERS_OUTBOX_ENABLED=true",
		"HERALD_CONSUMERS_OUTBOX_DSN=" + dsn,
		"HERALD_CONSUMERS_OUTBOX_TABLE=" + schema + ".herald_outbox",
		"HERALD_CONSUMERS_OUTBOX_CREATE_TABLE=true",
		"HERALD_CONSUMERS_OUTBOX_NOTIFY_CHANNEL=" + schema,
	})
	waitLog(t, cmd, `"consumer started" consumer=outbox`)
	c, _ := ht.Connect(t, "ws://"+addr+"/ws", "")
	c.Call(map[string]any{"type": "subscribe", "channel": "feed:k"})
	c.Call(map[string]any{"type": "subscribe", "channel": "feed:o"})

	p, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: "events", Value: []byte(`{"from":"kafka"}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if m := c.Messages("feed:k", 1)[0]; ht.JSON(m["data"]) != `{"from":"kafka"}` {
		t.Fatalf("from kafka: %v", m)
	}
	// The table exists once the consumer created it; the insert is
	// retried until then.
	ht.Eventually(t, 10*time.Second, func() bool {
		_, err := pool.Exec(ctx, `INSERT INTO `+schema+`.herald_outbox (channel, data) VALUES ('feed:o', '{"from":"outbox"}')`)
		return err == nil
	}, "the outbox table created")
	if m := c.Messages("feed:o", 1)[0]; ht.JSON(m["data"]) != `{"from":"outbox"}` {
		t.Fatalf("from the outbox: %v", m)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	v, _ := serveLogs.Load(cmd)
	if logs := v.(*syncBuffer).String(); strings.Contains(logs, "shutdown incomplete") || strings.Contains(logs, dsn) {
		t.Fatalf("the shutdown log:\n%s", logs)
	}
}
