// Package kafka publishes Kafka records into Herald: a consumer group
// member that reads the configured topics and publishes each record
// through the hub, committing a partition's offset only after every record
// before it was published (or skipped for good).
//
// Ordering: the records of one partition are published one at a time, in
// offset order; partitions run side by side. A channel's publications keep
// their order when its records are all in one partition, which a producer
// gets by keying records by channel (Kafka's default partitioner hashes the
// key).
//
// In-flight work is bounded: at most Config.MaxPollRecords records are
// taken per poll, and what the client fetches ahead is bounded by
// Config.FetchMaxBytes. Rebalances wait until a poll's records are
// published and committed (kgo's BlockRebalanceOnPoll), so a partition
// never changes hands with records of it half done.
//
// All methods may be called concurrently.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/heraldhq/herald/consume"
)

// Topic is one topic to consume.
type Topic struct {
	// Name is the topic.
	Name string
	// Channel, when set, is where every record of the topic is published,
	// its value as the data. Empty: each record names its channel (the
	// herald-channel header, or the JSON envelope).
	Channel string
}

// Config configures a Consumer. Zero values take the defaults given.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Group is the consumer group. Default "herald".
	Group string
	// ClientID names the client to the brokers. Default "herald".
	ClientID string
	// Topics are the topics to consume. At least one.
	Topics []Topic
	// MaxPollRecords caps the records taken from the client at once, the
	// consumer's work in flight. Default 500.
	MaxPollRecords int
	// FetchMaxBytes caps what one fetch from a broker returns, and thus
	// what the client buffers ahead per broker. Default 4 MiB.
	FetchMaxBytes int32
	// MaxDataSize caps a record's data; larger records are skipped.
	// Default 65536.
	MaxDataSize int
	// TLS, when not nil, connects to the brokers over TLS.
	TLS *tls.Config
	// SASL, when not nil, authenticates to the brokers.
	SASL sasl.Mechanism
	// Backoff spaces the attempts to publish a record while Herald's broker
	// fails. Default consume.DefaultBackoff.
	Backoff consume.Backoff
	// Publisher is where records are published: the hub. Required.
	Publisher consume.Publisher
	// Observer is told what the consumer does. Default: nothing.
	Observer consume.Observer
	// Logger logs skipped records and failures. Default slog.Default().
	Logger *slog.Logger

	// opts are extra client options, for tests.
	opts []kgo.Opt
}

// Consumer reads Kafka topics into Herald. Create it with New, start it
// with Run.
type Consumer struct {
	cfg      Config
	cl       *kgo.Client
	channels map[string]string // topic → channel

	mu  sync.Mutex
	lag map[partition]int64 // assigned partitions' backlog, after the last poll
}

type partition struct {
	topic string
	p     int32
}

// New checks cfg and creates the Kafka client; nothing is read before Run.
func New(cfg Config) (*Consumer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	if len(cfg.Topics) == 0 {
		return nil, errors.New("kafka: no topics")
	}
	if cfg.Publisher == nil {
		return nil, errors.New("kafka: no publisher")
	}
	if cfg.Group == "" {
		cfg.Group = "herald"
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "herald"
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 500
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 4 << 20
	}
	if cfg.MaxDataSize <= 0 {
		cfg.MaxDataSize = 65536
	}
	if cfg.Backoff == (consume.Backoff{}) {
		cfg.Backoff = consume.DefaultBackoff
	}
	if cfg.Observer == nil {
		cfg.Observer = consume.NopObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("consumer", "kafka")
	c := &Consumer{cfg: cfg, channels: make(map[string]string, len(cfg.Topics)), lag: make(map[partition]int64)}
	names := make([]string, 0, len(cfg.Topics))
	for _, t := range cfg.Topics {
		if t.Name == "" {
			return nil, errors.New("kafka: a topic without a name")
		}
		if _, dup := c.channels[t.Name]; dup {
			return nil, fmt.Errorf("kafka: topic %q listed twice", t.Name)
		}
		c.channels[t.Name] = t.Channel
		names = append(names, t.Name)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(names...),
		// Offsets are committed by hand, after publication; a poll's
		// partitions stay ours until its records are done and committed.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(min(cfg.FetchMaxBytes, 1<<20)),
		kgo.OnPartitionsRevoked(c.forget),
		kgo.OnPartitionsLost(c.forget),
		kgo.WithLogger(kgoLogger{cfg.Logger}),
	}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS))
	}
	if cfg.SASL != nil {
		opts = append(opts, kgo.SASL(cfg.SASL))
	}
	opts = append(opts, cfg.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Run consumes until ctx ends, then commits what was published, leaves the
// group and closes the client. Records polled but not published when ctx
// ends are left uncommitted, for the group to deliver again (their
// idempotency keys keep clients from seeing them twice). Run returns nil
// after ctx ends; it is called once.
func (c *Consumer) Run(ctx context.Context) error {
	defer func() {
		// Leave the group at once: the records not committed go to
		// another member, or to this node when it comes back.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = c.cl.LeaveGroupContext(lctx)
		c.cl.CloseAllowingRebalance()
	}()
	var wg sync.WaitGroup
	var done []*kgo.Record
	for {
		fetches := c.cl.PollRecords(ctx, c.cfg.MaxPollRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			c.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.cfg.Observer.Failed()
			c.cfg.Logger.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
		})
		// One goroutine per partition in the poll, each publishing its
		// records in order; last[i] is the last record it published.
		var parts []kgo.FetchTopicPartition
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				parts = append(parts, p)
			}
		})
		last := make([]*kgo.Record, len(parts))
		for i, p := range parts {
			wg.Go(func() { last[i] = c.partition(ctx, p) })
		}
		wg.Wait()
		done = done[:0]
		for i, r := range last {
			if r == nil {
				continue
			}
			done = append(done, r)
			c.setLag(partition{r.Topic, r.Partition}, parts[i].HighWatermark-r.Offset-1)
		}
		if len(done) > 0 {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := c.cl.CommitRecords(cctx, done...); err != nil {
				// The records are published: the group delivers them
				// again, and their idempotency keys drop them.
				c.cfg.Observer.Failed()
				c.cfg.Logger.Warn("commit failed", "err", err)
			}
			cancel()
		}
		c.cl.AllowRebalance()
	}
}

// partition publishes one partition's records of a poll in order and
// returns the last one published or skipped; it stops early only when ctx
// ends.
func (c *Consumer) partition(ctx context.Context, p kgo.FetchTopicPartition) *kgo.Record {
	var last *kgo.Record
	channel := c.channels[p.Topic]
	for _, r := range p.Records {
		m, err := decode(r, channel)
		switch {
		case err != nil:
			c.skip(r, consume.ReasonMalformed, err)
		case len(m.Data) > c.cfg.MaxDataSize:
			c.skip(r, consume.ReasonOversize, fmt.Errorf("%d bytes of data, more than %d", len(m.Data), c.cfg.MaxDataSize))
		default:
			err = consume.Publish(ctx, c.cfg.Publisher, m, c.cfg.Backoff, c.cfg.Observer, c.cfg.Logger)
			var rej *consume.Rejected
			switch {
			case errors.As(err, &rej):
				c.skip(r, consume.ReasonRejected, err)
			case err != nil:
				return last // stopped: the rest is delivered again
			}
		}
		last = r
	}
	return last
}

func (c *Consumer) skip(r *kgo.Record, reason string, err error) {
	c.cfg.Observer.Skipped(reason)
	c.cfg.Logger.Warn("record skipped", "reason", reason, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
}

func (c *Consumer) setLag(p partition, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lag[p] = max(n, 0)
	c.reportLag()
}

// forget drops revoked or lost partitions from the lag.
func (c *Consumer) forget(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range gone {
		for _, p := range ps {
			delete(c.lag, partition{topic, p})
		}
	}
	c.reportLag()
}

func (c *Consumer) reportLag() {
	var sum int64
	for _, n := range c.lag {
		sum += n
	}
	c.cfg.Observer.Lag(sum)
}

// kgoLogger passes the client's warnings and errors to slog; its info and
// debug lines (every metadata refresh, every heartbeat) are left out.
type kgoLogger struct{ log *slog.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		l.log.Error("kafka client: "+msg, keyvals...)
	case kgo.LogLevelWarn:
		l.log.Warn("kafka client: "+msg, keyvals...)
	}
}
