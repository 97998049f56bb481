package nats

import (
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/brokertest"
	"github.com/heraldhq/herald/internal/services"
)

// TestPublishMessages: per publication, NATS carries no more than the
// publication needs. Without history or idempotency key it is one core
// publish on the channel's live subject and nothing else: no JetStream
// request, no stream append. With history it is one append to the stream
// and the live publish, the append needing no read of the stream once
// this node knows the channel's head. A second connection watches every
// subject of the broker's prefix and the JetStream API.
func TestPublishMessages(t *testing.T) {
	url := services.NATS(t)
	prefix := "herald-test-" + randomHex()
	cleanupPrefix(t, url, prefix)
	o := testOptions(url, prefix)
	// The presence sweep reads the presence stream's info on its own
	// schedule; none within the test.
	o.SweepInterval = time.Hour
	b := newBroker(t, o)
	rec := brokertest.NewRecorder()
	if err := b.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	watch, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var subs []*natsgo.Subscription
	for _, subject := range []string{prefix + ".>", "$JS.API.>"} {
		s, err := watch.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetPendingLimits(-1, -1); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	// seen returns the messages on the watched subjects since its last
	// call, by subject, counting only the JetStream API requests that
	// name this test's history stream (other programs may share the
	// server, and the broker's background tasks use the others).
	seen := func() map[string]int {
		t.Helper()
		// Once the broker's connection has flushed, the server has routed
		// its messages; once the watcher's has, they are queued here.
		if err := b.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := watch.Flush(); err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, s := range subs {
			n, _, err := s.Pending()
			if err != nil {
				t.Fatal(err)
			}
			for range n {
				m, err := s.NextMsg(time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(m.Subject, "$JS.API.") && !strings.Contains(m.Subject, b.subj.history) {
					continue
				}
				out[m.Subject]++
			}
		}
		return out
	}
	kept := keep(10)
	for _, c := range []struct {
		channel string
		opts    broker.PublishOptions
	}{
		{"live", broker.PublishOptions{}},
		{"kept", kept},
	} {
		if err := b.Subscribe(ctx, c.channel); err != nil {
			t.Fatal(err)
		}
		if c.opts.Stream.Keeps() {
			// The first append reads the head; the next ones do not.
			if _, _, err := b.Publish(ctx, c.channel, &broker.Publication{Data: []byte("first")}, c.opts); err != nil {
				t.Fatal(err)
			}
			if _, err := rec.Publications(c.channel, 1, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		seen()
		for i := range 10 {
			if _, _, err := b.Publish(ctx, c.channel, &broker.Publication{Data: []byte(strconv.Itoa(i))}, c.opts); err != nil {
				t.Fatal(err)
			}
		}
		got := seen()
		want := map[string]int{b.subj.live(c.channel): 10}
		if c.opts.Stream.Keeps() {
			want[b.subj.channelLog(c.channel)] = 10
		}
		if len(got) != len(want) {
			t.Errorf("%s: 10 publications sent %v, want %v", c.channel, got, want)
		}
		for subject, n := range want {
			if got[subject] != n {
				t.Errorf("%s: 10 publications sent %v, want %v", c.channel, got, want)
				break
			}
		}
		skip := 0
		if c.opts.Stream.Keeps() {
			skip = 1
		}
		pubs, err := rec.Publications(c.channel, skip+10, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range pubs[skip:] {
			if string(d.Pub.Data) != strconv.Itoa(i) {
				t.Fatalf("%s: delivery %d: %q", c.channel, i, d.Pub.Data)
			}
		}
	}
}
