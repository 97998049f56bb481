package client_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/services"
)

// redisBroker is a Redis broker on addr for one test.
func redisBroker(t *testing.T, addr string) *redis.Broker {
	t.Helper()
	b, err := redis.New(redis.Options{Addrs: []string{addr}, Prefix: "herald-test-" + strconv.FormatInt(time.Now().UnixNano(), 36), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestSubscribeErrorIsTemporary: a subscribe refused because the server's
// engine is down fails with the server's error 100, and Temporary says so,
// so that the application knows to try again.
func TestSubscribeErrorIsTemporary(t *testing.T) {
	down := "127.0.0.1:" + strconv.Itoa(services.FreePort(t)) // nothing listens
	s := ht.Start(t, ht.Options{Broker: redisBroker(t, down), Hub: hub.Config{Anonymous: true}})
	c, err := client.Dial(ctx(t), s.WSURL, client.Options{Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Subscribe(ctx(t), "chat:down", client.SubscribeOptions{})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != 100 || !e.Temporary() {
		t.Fatalf("subscribe with the engine down: %v, want error 100, temporary", err)
	}
}
