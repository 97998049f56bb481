package nats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/broker/nats/embed"
	"github.com/heraldhq/herald/internal/services"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var ctx = context.Background()

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testOptions are fast timings for tests: short sweeps and reorder waits so
// that expiry and hole tests finish quickly.
func testOptions(url, prefix string) Options {
	return Options{
		URL:           url,
		Prefix:        prefix,
		SweepInterval: 50 * time.Millisecond,
		ReorderWait:   50 * time.Millisecond,
		ReconnectWait: 100 * time.Millisecond,
	}
}

func newBroker(t testing.TB, o Options) *Broker {
	t.Helper()
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// cleanupPrefix deletes a prefix's streams from a shared server when the
// test ends, after its brokers closed.
func cleanupPrefix(t testing.TB, url, prefix string, connOpts ...natsgo.Option) {
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url, connOpts...)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s := newSubjects(prefix)
		for _, name := range []string{s.history, s.presence, s.keys} {
			if err := js.DeleteStream(ctx, name); err != nil {
				t.Errorf("cleanup: delete %s: %v", name, err)
			}
		}
	})
}

// TestConformance runs the suite on the shared NATS server (2.9 in CI).
func TestConformance(t *testing.T) {
	url := services.NATS(t)
	prefix := "herald-test-" + randomHex()
	cleanupPrefix(t, url, prefix)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		b, err := New(testOptions(url, prefix))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// startEmbedded runs a single embedded server, reached in process.
func startEmbedded(t testing.TB) *embed.Server {
	t.Helper()
	s, err := embed.Start(embed.Options{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformanceEmbedded runs the suite on an embedded server.
func TestConformanceEmbedded(t *testing.T) {
	s := startEmbedded(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		o := testOptions("", "herald")
		o.ConnOptions = []natsgo.Option{s.InProcess()}
		b, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
