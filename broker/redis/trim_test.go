package redis_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
	"github.com/heraldhq/herald/internal/wait"
)

// TestTrimExpiredIsBounded: publications that expired all at once are
// trimmed a bounded batch per script call, not all in the one call that
// finds them, which would hold Redis for as long as the backlog takes.
func TestTrimExpiredIsBounded(t *testing.T) {
	addr := services.Redis(t)
	prefix := sharedPrefix(t, addr)
	b := newBroker(t, redis.Options{Addrs: []string{addr}, Prefix: prefix})
	const expiring, budget = 2500, 1000
	short := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10000, TTL: 300 * time.Millisecond}}
	for range expiring {
		if _, _, err := b.Publish(ctx, "mass", &broker.Publication{Data: []byte("x")}, short); err != nil {
			t.Fatal(err)
		}
	}
	long := broker.PublishOptions{Stream: broker.StreamOptions{Size: 10000, TTL: time.Hour}}
	top, _, err := b.Publish(ctx, "mass", &broker.Publication{Data: []byte("x")}, long)
	if err != nil {
		t.Fatal(err)
	}

	c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2})
	defer c.Close()
	keys, err := c.Keys(ctx, prefix+":*:s").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("stream keys %v (%v)", keys, err)
	}
	key := keys[0]
	// Wait, by Redis's clock, until the last short-lived entry expired.
	last, err := c.XRevRangeN(ctx, key, "+", "-", 2).Result()
	if err != nil || len(last) != 2 {
		t.Fatalf("newest entries %v (%v)", last, err)
	}
	expiry, _ := strconv.ParseInt(last[1].ID[strings.Index(last[1].ID, "-")+1:], 10, 64)
	wait.For(t, 10*time.Second, func() error {
		now, err := c.Time(ctx).Result()
		if err != nil {
			return err
		}
		if now.UnixMilli() <= expiry {
			return fmt.Errorf("Redis's clock at %d, the last entry expires at %d", now.UnixMilli(), expiry)
		}
		return nil
	})

	// Publishing may have trimmed the first few already.
	for {
		before, err := c.XLen(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if _, pos, err := b.History(ctx, "mass", broker.HistoryOptions{Limit: -1}); err != nil || pos != top {
			t.Fatalf("history: %+v (%v)", pos, err)
		}
		after, err := c.XLen(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := max(before-budget, 1); after != want {
			t.Fatalf("one read left %d of %d entries, want %d: a call trims %d at most", after, before, want, budget)
		}
		if after == 1 {
			break
		}
	}
	// Only the live publication is left, and reads see only it.
	pubs, _, err := b.History(ctx, "mass", broker.HistoryOptions{})
	if err != nil || len(pubs) != 1 || pubs[0].Offset != top.Offset {
		t.Fatalf("after trimming: %d publications (%v)", len(pubs), err)
	}
}
