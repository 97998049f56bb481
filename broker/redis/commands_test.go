package redis_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
)

// TestPublishCommands: per publication, Redis does no more than the
// publication needs: without history or idempotency key one PUBLISH and no
// script; with history one script call, which publishes (Redis counts the
// script's PUBLISH too; loading the script may add a call). Delivered
// either way.
func TestPublishCommands(t *testing.T) {
	t.Parallel()
	p := services.StartRedis(t) // a server of its own: its counts are ours
	// No presence sweep during the count: it runs scripts of its own, and
	// on a loaded machine the publications can take longer than its
	// interval.
	b := newBroker(t, redis.Options{Addrs: []string{p.Addr()}, SweepInterval: time.Hour})
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"live", "kept"} {
		if err := b.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	admin := goredis.NewClient(&goredis.Options{Addr: p.Addr()})
	defer admin.Close()
	kept := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10, TTL: time.Minute}}
	for _, c := range []struct {
		channel              string
		opts                 broker.PublishOptions
		wantPublish, wantRun int64
	}{
		{"live", broker.PublishOptions{}, 10, 0},
		{"kept", kept, 10, 10},
	} {
		before := commandCalls(t, admin)
		for i := range 10 {
			if _, _, err := b.Publish(ctx, c.channel, &broker.Publication{Data: []byte(strconv.Itoa(i))}, c.opts); err != nil {
				t.Fatal(err)
			}
		}
		after := commandCalls(t, admin)
		if got := after["publish"] - before["publish"]; got != c.wantPublish {
			t.Errorf("%s: %d PUBLISH for 10 publications, want %d", c.channel, got, c.wantPublish)
		}
		if got := after["evalsha"] + after["eval"] - before["evalsha"] - before["eval"]; got < c.wantRun || got > c.wantRun+1 {
			t.Errorf("%s: %d script calls for 10 publications, want %d", c.channel, got, c.wantRun)
		}
		got, err := rec.Publications(c.channel, 10, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range got {
			if string(d.Pub.Data) != strconv.Itoa(i) || d.Pub.Time == 0 {
				t.Fatalf("%s: delivery %d: %q at %d", c.channel, i, d.Pub.Data, d.Pub.Time)
			}
		}
	}
}

// commandCalls reads the calls per command from INFO commandstats.
func commandCalls(t *testing.T, c *goredis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		calls[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(n, 10, 64)
	}
	return calls
}
