package e2e_test

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

// engine makes broker clients of one kind for the tests that run on each.
type engine struct {
	name string
	// connect returns a broker on the shared server with the given key
	// prefix; the test closes it.
	connect func(t testing.TB, prefix string) broker.Broker
	// private starts a server of the engine's own for this test.
	private func(t testing.TB) *privateEngine
	// outages lists the outage cases the private server can produce: a
	// restart that keeps the data (false) and one that loses it (true).
	outages []bool
}

// privateEngine is an engine server a test may stop and start.
type privateEngine struct {
	connect func(t testing.TB, prefix string) broker.Broker
	stop    func()
	start   func()
	// wipe, when set, deletes the server's stored data while it is
	// stopped; without it a restart keeps whatever the server persists.
	wipe func()
}

// eachEngine runs fn as a subtest per engine, named after it.
func eachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { fn(t, e) })
	}
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
