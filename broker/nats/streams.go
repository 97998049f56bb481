package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamSet holds the handles of the broker's three streams.
type streamSet struct {
	history, presence, keys jetstream.Stream
}

// streamConfigs describes the streams. Only the JetStream features of
// nats-server 2.9 are used: no per-message TTL, no multi-filter consumers,
// no batch publish. Retention is by age only (and one message per subject
// for keys and presence): sizes and TTLs differ per namespace, so the
// broker applies them itself (see history.go).
func (b *Broker) streamConfigs() []jetstream.StreamConfig {
	o := b.opts
	dup := func(maxAge time.Duration) time.Duration { return min(2*time.Minute, maxAge) }
	return []jetstream.StreamConfig{{
		Name:        b.subj.history,
		Description: "Herald channel and inbox history",
		Subjects:    []string{b.subj.historyAll()},
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		MaxAge:      o.HistoryMaxAge,
		Duplicates:  dup(o.HistoryMaxAge),
	}, {
		Name:              b.subj.presence,
		Description:       "Herald presence",
		Subjects:          []string{b.subj.presenceAll()},
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		MaxAge:            o.KeyMaxAge,
		MaxMsgsPerSubject: 1,
		Duplicates:        dup(o.KeyMaxAge),
	}, {
		Name:              b.subj.keys,
		Description:       "Herald idempotency keys",
		Subjects:          []string{b.subj.keysAll()},
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		MaxAge:            o.KeyMaxAge,
		MaxMsgsPerSubject: 1,
		Duplicates:        dup(o.KeyMaxAge),
	}}
}

// ensureStreams creates the streams, or updates them to the options,
// within ctx. Each request has the configured timeout; one that goes
// unanswered is asked again while ctx lasts, since a cluster that starts
// with this node may still be electing the leaders that answer it, and a
// request made during an election can be dropped. Asking again is safe:
// creating a stream that exists updates it to the same configuration.
func (b *Broker) ensureStreams(ctx context.Context) error {
	var handles []jetstream.Stream
	for _, cfg := range b.streamConfigs() {
		s, err := b.createStream(ctx, cfg)
		for err != nil && retryable(err) && ctx.Err() == nil {
			// A node starting together with its peers: JetStream has a
			// leader but not yet enough peers for the replicas. They
			// join within moments; wait for them within the timeout.
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
				s, err = b.createStream(ctx, cfg)
			}
		}
		if err != nil {
			return fmt.Errorf("nats: stream %s: %w", cfg.Name, err)
		}
		handles = append(handles, s)
	}
	b.streams.Store(&streamSet{history: handles[0], presence: handles[1], keys: handles[2]})
	return nil
}

// retryable reports a stream create that may succeed if asked again: too
// few peers yet for the replicas, or no answer within the request timeout.
func retryable(err error) bool {
	return apiCode(err) == errNoPeers || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsgo.ErrTimeout)
}

// createStream creates or updates one stream, in one request bounded by
// the configured timeout.
func (b *Broker) createStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	s, err := b.js.CreateOrUpdateStream(ctx, cfg)
	for try := 0; try < 3 && raced(err); try++ {
		// Another node created it between our look and our create: now
		// it exists, and updating it works.
		s, err = b.js.CreateOrUpdateStream(ctx, cfg)
	}
	return s, err
}

func (b *Broker) st() *streamSet { return b.streams.Load() }

// errNoPeers is the code of a replicated stream's create when too few
// peers are online for its replicas ("no suitable peers for placement").
const errNoPeers jetstream.ErrorCode = 10005

// errSubjectsOverlap is the code nats-server 2.9 answers a create that
// lost the race to an identical one with; nats.go names no constant for it.
const errSubjectsOverlap jetstream.ErrorCode = 10065

// raced reports a stream create that lost to another node's.
func raced(err error) bool {
	c := apiCode(err)
	return c == jetstream.JSErrCodeStreamNameInUse || c == errSubjectsOverlap
}

func apiCode(err error) jetstream.ErrorCode {
	var e *jetstream.APIError
	if errors.As(err, &e) {
		return e.ErrorCode
	}
	return 0
}

// isWrongLast reports a failed Nats-Expected-Last-Subject-Sequence check:
// someone else wrote the subject first. Replicated streams of newer
// servers use a second code.
func isWrongLast(err error) bool {
	c := apiCode(err)
	return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) || apiCode(err) == jetstream.JSErrCodeMessageNotFound
}

// last returns the newest message on subj, nil when there is none.
func last(ctx context.Context, s jetstream.Stream, subj string) (*jetstream.RawStreamMsg, error) {
	m, err := s.GetLastMsgForSubject(ctx, subj)
	if isNotFound(err) {
		return nil, nil
	}
	return m, err
}

// nextFor returns the first message on subj at stream sequence seq or
// after, nil when there is none.
func nextFor(ctx context.Context, s jetstream.Stream, subj string, seq uint64) (*jetstream.RawStreamMsg, error) {
	m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
	if isNotFound(err) {
		return nil, nil
	}
	return m, err
}

// bySeq returns the message at seq, nil when it is gone.
func bySeq(ctx context.Context, s jetstream.Stream, seq uint64) (*jetstream.RawStreamMsg, error) {
	m, err := s.GetMsg(ctx, seq)
	if isNotFound(err) {
		return nil, nil
	}
	return m, err
}

// appendIf stores data on subj provided the subject's newest message is
// still at stream sequence prev (0: the subject is empty), and returns the
// new message's sequence. isWrongLast(err) tells that it was not.
func (b *Broker) appendIf(ctx context.Context, subj string, data []byte, prev uint64) (uint64, error) {
	// No responders means the stream has no leader at the moment (just
	// created, or electing one): retry until ctx ends. A lost connection
	// fails at once instead, with another error.
	ack, err := b.js.PublishMsg(ctx, &natsgo.Msg{Subject: subj, Data: data},
		jetstream.WithExpectLastSequencePerSubject(prev),
		jetstream.WithRetryWait(20*time.Millisecond), jetstream.WithRetryAttempts(1<<20))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// listFrom reads up to max messages on subj from stream sequence from on,
// oldest first, through an ephemeral consumer: one request for what would
// otherwise be one per message.
func (b *Broker) listFrom(ctx context.Context, s jetstream.Stream, subj string, from uint64, max int) ([]jetstream.Msg, error) {
	cfg := jetstream.ConsumerConfig{
		FilterSubject:     subj,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute, // in case the delete below is lost
	}
	c, err := s.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer b.dropConsumer(s, c.CachedInfo().Name)
	n := int(min(c.CachedInfo().NumPending, uint64(max)))
	if n == 0 {
		return nil, nil
	}
	out := make([]jetstream.Msg, 0, n)
	// What was pending at creation is there now, unless it expired or was
	// purged since: fetch without waiting until none is left.
	for len(out) < n {
		batch, err := fetchNoWait(ctx, c, n-len(out))
		if err != nil {
			return nil, err
		}
		got := len(out)
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if len(out) == got {
			break
		}
	}
	return out, nil
}

// dropConsumer deletes an ephemeral consumer without waiting for the
// answer: the reply goes to an inbox nobody waits on.
func (b *Broker) dropConsumer(s jetstream.Stream, name string) {
	subj := "$JS.API.CONSUMER.DELETE." + s.CachedInfo().Config.Name + "." + name
	_ = b.nc.PublishRequest(subj, b.nc.NewRespInbox(), nil)
}

// fetchNoWait fetches what a consumer has. In a cluster a new consumer's
// server may not have its interest known everywhere yet: no responders
// then means "try again shortly", not an error.
func fetchNoWait(ctx context.Context, c jetstream.Consumer, n int) (jetstream.MessageBatch, error) {
	for wait := time.Millisecond; ; wait *= 2 {
		batch, err := c.FetchNoWait(n)
		if err == nil {
			// The error of the request itself arrives with the batch.
			var msgs []jetstream.Msg
			for m := range batch.Messages() {
				msgs = append(msgs, m)
			}
			if err := batch.Error(); !errors.Is(err, natsgo.ErrNoResponders) {
				return sliceBatch{msgs, err}, nil
			}
		} else if !errors.Is(err, natsgo.ErrNoResponders) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// sliceBatch is a fetched batch already read.
type sliceBatch struct {
	msgs []jetstream.Msg
	err  error
}

func (b sliceBatch) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg, len(b.msgs))
	for _, m := range b.msgs {
		ch <- m
	}
	close(ch)
	return ch
}

func (b sliceBatch) Error() error { return b.err }
