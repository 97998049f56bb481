package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/consume"
	"github.com/heraldhq/herald/consume/consumetest"
	"github.com/heraldhq/herald/consume/kafka"
	"github.com/heraldhq/herald/internal/logtest"
	"github.com/heraldhq/herald/internal/wait"
)

const topic = "events"

// cluster starts an in-process Kafka cluster with topic in three
// partitions.
func cluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster { return clusterB(t, opts...) }

func clusterB(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// producer returns a client that produces to c, keyed records going to
// the key's partition (the default partitioner's hash).
func producer(t *testing.T, c *kfake.Cluster) *kgo.Client { return producerB(t, c) }

func producerB(t testing.TB, c *kfake.Cluster) *kgo.Client {
	t.Helper()
	p, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func produce(t *testing.T, p *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// envelopes returns records for channel, keyed by it, in the JSON
// envelope, with the data want[i] and then the end marker.
func envelopes(channel string, want []string) []*kgo.Record {
	var out []*kgo.Record
	for _, d := range append(want, "end") {
		v, _ := json.Marshal(map[string]any{"channel": channel, "data": d})
		out = append(out, &kgo.Record{Topic: topic, Key: []byte(channel), Value: v})
	}
	return out
}

// start runs a consumer of c publishing into srv.
func start(t *testing.T, c *kfake.Cluster, srv consume.Publisher, obs consume.Observer, topics ...kafka.Topic) (stop func(), logs *logtest.Buffer) {
	t.Helper()
	logs = &logtest.Buffer{}
	if len(topics) == 0 {
		topics = []kafka.Topic{{Name: topic}}
	}
	cfg := kafka.Config{
		Brokers:   c.ListenAddrs(),
		Group:     "herald-test",
		Topics:    topics,
		Publisher: srv,
		Observer:  obs,
		Logger:    logs.Logger(slog.LevelInfo),
		Backoff:   consume.Backoff{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond},
	}.WithOpts(kgo.FetchMaxWait(100*time.Millisecond), kgo.SessionTimeout(6*time.Second), kgo.RebalanceTimeout(6*time.Second))
	k, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return consumetest.Run(t, k.Run), logs
}

// committed returns the group's committed offsets for topic, by partition.
func committed(t *testing.T, c *kfake.Cluster) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "herald-test")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int32]int64)
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

func sum(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestForms: the envelope (data and b64data), the herald-channel header and
// a topic mapped to a channel all publish, channels keep their order, and
// each record is delivered once.
func TestForms(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(1, "mapped"))
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:a", "chat:b", "chat:h", "chat:m")
	obs := &consumetest.Observer{}
	start(t, c, srv.Hub, obs, kafka.Topic{Name: topic}, kafka.Topic{Name: "mapped", Channel: "chat:m"})
	p := producer(t, c)

	a, b := consumetest.Seq("a", 50), consumetest.Seq("b", 50)
	var recs []*kgo.Record
	ea, eb := envelopes("chat:a", a), envelopes("chat:b", b)
	for i := range ea { // interleaved: two partitions (or one) at once
		recs = append(recs, ea[i], eb[i])
	}
	produce(t, p, recs...)
	produce(t, p,
		&kgo.Record{Topic: topic, Key: []byte("chat:h"), Value: []byte(`"h0"`), Headers: []kgo.RecordHeader{{Key: kafka.HeaderChannel, Value: []byte("chat:h")}}},
		&kgo.Record{Topic: topic, Key: []byte("chat:h"), Value: []byte(`{"channel":"chat:h","b64data":"ImgxIg=="}`)},
		&kgo.Record{Topic: topic, Key: []byte("chat:h"), Value: []byte(`{"channel":"chat:h","data":"end"}`)},
		&kgo.Record{Topic: "mapped", Value: []byte(`"m0"`)},
		&kgo.Record{Topic: "mapped", Value: []byte(`"end"`)},
	)
	sub.Expect("chat:a", a)
	sub.Expect("chat:b", b)
	sub.Expect("chat:h", []string{"h0", "h1"})
	sub.Expect("chat:m", []string{"m0"})
	wait.For(t, 5*time.Second, func() error {
		if n := sum(committed(t, c)); n != 105 {
			return fmt.Errorf("committed %d of 105 on %s", n, topic)
		}
		return nil
	})
	if n := obs.PublishedCount(); n != 107 {
		t.Errorf("published %d, want 107", n)
	}
	wait.For(t, 5*time.Second, func() error {
		if n := obs.LagValue(); n != 0 {
			return fmt.Errorf("lag %d", n)
		}
		return nil
	})
}

// TestMalformedRecordsSkipped: records that cannot be published are
// skipped with a count, committed past, and do not hold up the records
// after them in their partition.
func TestMalformedRecordsSkipped(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(1, "one"))
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:x")
	obs := &consumetest.Observer{}
	_, logs := start(t, c, srv.Hub, obs, kafka.Topic{Name: "one"})
	p := producer(t, c)
	rec := func(v string) *kgo.Record { return &kgo.Record{Topic: "one", Value: []byte(v)} }
	big, _ := json.Marshal(map[string]any{"channel": "chat:x", "data": string(make([]byte, 70000))})
	produce(t, p,
		rec(`{"channel":"chat:x","data":"x0"}`),
		rec(`not json`),
		rec(`{"channel":"chat:x"`),
		rec(`{"data":"no channel"}`),
		rec(`{"channel":"chat:x","data":1,"b64data":"AA=="}`),
		rec(`{"channel":"chat:x","b64data":"!!"}`),
		rec(`{"channel":"no space allowed","data":1}`), // rejected by the hub: 107
		rec(`{"channel":"unknown:x","data":1}`),        // 102
		rec(string(big)),
		&kgo.Record{Topic: "one"}, // a tombstone
		rec(`{"channel":"chat:x","data":"x1"}`),
		rec(`{"channel":"chat:x","data":"end"}`),
	)
	sub.Expect("chat:x", []string{"x0", "x1"})
	for reason, want := range map[string]int{consume.ReasonMalformed: 6, consume.ReasonRejected: 2, consume.ReasonOversize: 1} {
		if n := obs.SkippedCount(reason); n != want {
			t.Errorf("skipped %s: %d, want %d", reason, n, want)
		}
	}
	if n := len(logs.Lines("record skipped")); n != 9 {
		t.Errorf("%d lines say a record was skipped, want 9:\n%s", n, logs)
	}
	wait.For(t, 5*time.Second, func() error {
		cl, _ := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		defer cl.Close()
		offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "herald-test")
		if err != nil {
			return err
		}
		if o, _ := offs.Lookup("one", 0); o.At != 12 {
			return fmt.Errorf("committed %d, want 12", o.At)
		}
		return nil
	})
}

// TestBrokerDown: while Herald's engine fails publications, the consumer
// retries the same record, commits nothing past it and drops nothing;
// when the engine is back every record arrives once, in order.
func TestBrokerDown(t *testing.T) {
	c := cluster(t)
	srv, fb := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:d")
	obs := &consumetest.Observer{}
	start(t, c, srv.Hub, obs)
	p := producer(t, c)
	want := consumetest.Seq("d", 20)
	produce(t, p, envelopes("chat:d", want[:5])[:5]...)
	wait.For(t, 5*time.Second, func() error {
		if n := sum(committed(t, c)); n != 5 {
			return fmt.Errorf("committed %d of 5", n)
		}
		return nil
	})
	fb.SetDown(true)
	rest := envelopes("chat:d", want[5:])
	produce(t, p, rest...)
	wait.For(t, 5*time.Second, func() error {
		if n := obs.FailedCount(); n < 5 {
			return fmt.Errorf("%d failed attempts", n)
		}
		return nil
	})
	if n := sum(committed(t, c)); n != 5 {
		t.Fatalf("committed %d while the engine was down, want 5", n)
	}
	if n := obs.PublishedCount(); n != 5 {
		t.Fatalf("published %d while the engine was down", n)
	}
	fb.SetDown(false)
	sub.Expect("chat:d", want)
	wait.For(t, 5*time.Second, func() error {
		if n := sum(committed(t, c)); n != 21 {
			return fmt.Errorf("committed %d of 21", n)
		}
		return nil
	})
}

// TestRedeliveredOnce: a consumer that published records but could not
// commit them (it crashed, or lost the coordinator) leaves them to the
// next one, which publishes them again; their idempotency keys (topic,
// partition, offset) keep clients from receiving any twice.
func TestRedeliveredOnce(t *testing.T) {
	c := cluster(t)
	var refused atomic.Int64
	var allow atomic.Bool
	c.ControlKey(kmsg.OffsetCommit.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		if allow.Load() {
			return nil, nil, false // the cluster commits
		}
		c.KeepControl()
		req := r.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		refused.Add(1)
		return resp, nil, true
	})
	srv, fb := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:r")
	obs := &consumetest.Observer{}
	stop, _ := start(t, c, srv.Hub, obs)
	p := producer(t, c)
	want := consumetest.Seq("r", 30)
	produce(t, p, envelopes("chat:r", want)[:30]...)
	wait.For(t, 10*time.Second, func() error {
		if n := obs.PublishedCount(); n != 30 {
			return fmt.Errorf("published %d of 30", n)
		}
		if refused.Load() == 0 {
			return fmt.Errorf("no commit refused yet")
		}
		return nil
	})
	stop()
	if n := sum(committed(t, c)); n != 0 {
		t.Fatalf("committed %d, want nothing", n)
	}
	allow.Store(true)
	attempts := fb.Attempts.Load()
	start(t, c, srv.Hub, obs)
	produce(t, p, envelopes("chat:r", nil)...)
	sub.Expect("chat:r", want)
	if n := fb.Attempts.Load() - attempts; n < 31 {
		t.Fatalf("the second consumer published %d records, want the 30 again and the marker", n)
	}
}

// TestKafkaRestart: the cluster restarts (its data kept on disk) under a
// running consumer, which reconnects and goes on where it was.
func TestKafkaRestart(t *testing.T) {
	dir := t.TempDir()
	c := cluster(t, kfake.DataDir(dir))
	addr := c.ListenAddrs()[0]
	srv, _ := consumetest.Start(t)
	sub := consumetest.Subscribe(t, srv, "chat:k")
	obs := &consumetest.Observer{}
	start(t, c, srv.Hub, obs)
	p := producer(t, c)
	want := consumetest.Seq("k", 20)
	produce(t, p, envelopes("chat:k", want[:10])[:10]...)
	wait.For(t, 10*time.Second, func() error {
		if n := obs.PublishedCount(); n != 10 {
			return fmt.Errorf("published %d of 10", n)
		}
		return nil
	})
	c.Close()
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	cluster(t, kfake.DataDir(dir), kfake.Ports(n))
	produce(t, p, envelopes("chat:k", want[10:])...)
	sub.Expect("chat:k", want)
}
