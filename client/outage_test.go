package client_test

import (
	"errors"
	"strconv"
	"sync"
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

// TestConnectWhileEngineDown: a user's connect while the server's engine is
// down is refused with close 4006; the client keeps trying (with its
// backoff, as after any refusal it may retry) and connects once the engine
// is back.
func TestConnectWhileEngineDown(t *testing.T) {
	p := services.StartRedis(t)
	p.Stop()
	s := ht.Start(t, ht.Options{Broker: redisBroker(t, p.Addr())})
	var mu sync.Mutex
	refusals := 0
	opts := client.Options{
		Token:   ht.Token(t, "u", nil),
		Backoff: client.Backoff{Min: 50 * time.Millisecond, Max: time.Second},
		OnState: func(sc client.StateChange) {
			var ce *client.CloseError
			if sc.State == client.StateDisconnected && errors.As(sc.Err, &ce) && ce.Code == 4006 {
				mu.Lock()
				refusals++
				mu.Unlock()
			}
		},
	}
	dialed := make(chan error, 1)
	var c *client.Client
	go func() {
		var err error
		c, err = client.Dial(ctx(t), s.WSURL, opts)
		dialed <- err
	}()
	ht.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return refusals >= 3
	}, "connects refused while the engine is down")
	p.Start()
	if err := <-dialed; err != nil {
		t.Fatalf("connect once the engine is back: %v", err)
	}
	defer c.Close()
	if _, err := c.Subscribe(ctx(t), "chat:back", client.SubscribeOptions{}); err != nil {
		t.Fatalf("subscribe once the engine is back: %v", err)
	}
}
