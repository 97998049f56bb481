package embed

import (
	"context"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNeedsDir(t *testing.T) {
	if _, err := Start(Options{}); err == nil {
		t.Fatal("started without a store directory")
	}
}

// TestListenerAndInProcess: a server with a client port is reachable over
// TCP; one without is reachable in process only; both have JetStream.
func TestListenerAndInProcess(t *testing.T) {
	for _, port := range []int{0, -1} {
		s, err := Start(Options{Dir: t.TempDir(), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		var nc *natsgo.Conn
		if port == 0 {
			if s.ClientURL() == "" {
				t.Fatal("no client URL")
			}
			nc, err = natsgo.Connect(s.ClientURL())
		} else {
			if s.ClientURL() != "" {
				t.Fatalf("client URL %s without a listener", s.ClientURL())
			}
			nc, err = natsgo.Connect("", s.InProcess())
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		s.Shutdown()
	}
}
