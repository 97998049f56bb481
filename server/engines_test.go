package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	natsbroker "github.com/heraldhq/herald/broker/nats"
	"github.com/heraldhq/herald/broker/redis"
	"github.com/heraldhq/herald/internal/services"
)

// engines are the cluster engines the cluster tests run on, each against
// a real server.
var engines = []engine{
	{name: "redis", connect: redisOn(services.Redis), private: privateRedis, outages: []bool{true}},
	{name: "nats", connect: natsOn(services.NATS), private: privateNATS, outages: []bool{false, true}},
}

func natsOn(url func(testing.TB) string) func(testing.TB, string) broker.Broker {
	return func(t testing.TB, prefix string) broker.Broker {
		t.Helper()
		b, err := natsbroker.New(natsbroker.Options{
			URL:           url(t),
			Prefix:        prefix,
			SweepInterval: 100 * time.Millisecond,
			Timeout:       time.Second,
			ReconnectWait: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
}

// privateNATS runs a NATS of the test's own whose JetStream store survives
// its restarts.
func privateNATS(t testing.TB) *privateEngine {
	p := services.StartNATS(t)
	return &privateEngine{
		connect: natsOn(func(testing.TB) string { return "nats://" + p.Addr() }),
		stop:    p.Stop,
		start:   p.Start,
		wipe: func() {
			if err := os.RemoveAll(p.Dir); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func redisOn(addr func(testing.TB) string) func(testing.TB, string) broker.Broker {
	return func(t testing.TB, prefix string) broker.Broker {
		t.Helper()
		a := addr(t)
		services.CleanRedis(t, a, prefix)
		b, err := redis.New(redis.Options{
			Addrs:         []string{a},
			Prefix:        prefix,
			SweepInterval: 100 * time.Millisecond,
			Timeout:       time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
}

// privateRedis runs a Redis of the test's own, without persistence: a
// restart loses everything.
func privateRedis(t testing.TB) *privateEngine {
	p := services.StartRedis(t)
	return &privateEngine{
		connect: redisOn(func(testing.TB) string { return p.Addr() }),
		stop:    p.Stop,
		start:   p.Start,
	}
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
