// Package consume is what Herald's asynchronous consumers share: they read
// publications from a system the application already writes to (a Kafka
// topic, a PostgreSQL outbox table) and publish them through the hub, the
// path the server API's publish takes.
//
// Every consumer gives the same guarantees: a source record is
// acknowledged (an offset committed, a row deleted) only after Herald's
// broker acknowledged its publication, so nothing is lost; every
// publication carries an idempotency key derived from the record's
// identity, so a record delivered again after a crash or a restart is not
// delivered to clients twice (within the hub's idempotency TTL); while the
// broker fails, consumers stop reading and retry the same record with
// backoff, never skipping it; a record Herald refuses for good (a bad
// channel name, an unknown namespace, data over the size limit) is
// skipped, logged and counted, so that it cannot block what follows it.
package consume

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// Publisher is what a consumer publishes through: *hub.Hub implements it.
type Publisher interface {
	Publish(ctx context.Context, channel string, data []byte, idempotencyKey string) (protocol.PublishResult, error)
}

// Observer is told what a consumer does, for metrics. Its methods are
// called concurrently and must not block.
type Observer interface {
	// Published counts a record published into Herald.
	Published()
	// Skipped counts a record dropped because it can never be published;
	// reason is one of the Reason constants.
	Skipped(reason string)
	// Failed counts a publication attempt that failed and will be retried
	// (Herald's broker is down or overloaded), or a failure of the source
	// (a lost connection, a failed commit).
	Failed()
	// Lag reports how many records are waiting in the source: for Kafka
	// the assigned partitions' end offsets minus what was published, for
	// an outbox the rows waiting (counted up to a cap).
	Lag(n int64)
}

// The reasons a record is skipped, the "reason" label of
// herald_consumer_skipped_total.
const (
	// ReasonMalformed: the record does not say where to publish, or says
	// it in a form that does not parse.
	ReasonMalformed = "malformed"
	// ReasonOversize: the data exceeds the consumer's max_data_size.
	ReasonOversize = "oversize"
	// ReasonRejected: Herald refused the publication for good (an invalid
	// channel name, an unknown namespace).
	ReasonRejected = "rejected"
)

// Reasons lists every reason Skipped is called with.
var Reasons = []string{ReasonMalformed, ReasonOversize, ReasonRejected}

// NopObserver counts nothing.
type NopObserver struct{}

// Published implements Observer.
func (NopObserver) Published() {}

// Skipped implements Observer.
func (NopObserver) Skipped(string) {}

// Failed implements Observer.
func (NopObserver) Failed() {}

// Lag implements Observer.
func (NopObserver) Lag(int64) {}

// Message is one publication a consumer read from its source.
type Message struct {
	Channel        string
	Data           []byte
	IdempotencyKey string
}

// Rejected is the error Publish returns when Herald refused a publication
// for good; retrying it would fail the same way.
type Rejected struct{ Err *protocol.Error }

// Error implements error.
func (r *Rejected) Error() string { return "rejected: " + r.Err.Error() }

// Unwrap returns the protocol error.
func (r *Rejected) Unwrap() error { return r.Err }

// Backoff is the delay between attempts to publish a record while
// Herald's broker fails: Min doubled on each failure up to Max.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff retries quickly at first, then every two seconds.
var DefaultBackoff = Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}

// Next returns the delay after d (zero: the first).
func (b Backoff) Next(d time.Duration) time.Duration {
	if d <= 0 {
		return b.Min
	}
	return min(2*d, b.Max)
}

// Publish publishes m through p. While Herald fails temporarily (its broker
// is down: error 100, or overloaded: 110) it retries with backoff, counting
// each failure on obs and logging the first, until it succeeds or ctx
// ends: it never gives up on a record by itself. It returns nil once
// published, a *Rejected for a publication Herald refuses for good, and
// ctx's error when stopped before the record was published.
func Publish(ctx context.Context, p Publisher, m Message, bo Backoff, obs Observer, log *slog.Logger) error {
	var delay time.Duration
	for {
		err := PublishOnce(ctx, p, m)
		var rej *Rejected
		switch {
		case err == nil:
			if delay > 0 {
				log.Info("consumer: publishing again", "channel", m.Channel)
			}
			obs.Published()
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &rej):
			return err
		}
		obs.Failed()
		if delay == 0 {
			log.Warn("consumer: publication failed, retrying until it succeeds", "channel", m.Channel, "err", err)
		}
		delay = bo.Next(delay)
		if !Sleep(ctx, delay) {
			return ctx.Err()
		}
	}
}

// PublishOnce publishes m through p once. It returns nil once published, a
// *Rejected for a publication Herald refuses for good, and any other error
// for one that may succeed later.
func PublishOnce(ctx context.Context, p Publisher, m Message) error {
	_, err := p.Publish(ctx, m.Channel, m.Data, m.IdempotencyKey)
	if err == nil {
		return nil
	}
	var perr *protocol.Error
	if errors.As(err, &perr) && !perr.Code.Temporary() && ctx.Err() == nil {
		return &Rejected{Err: perr}
	}
	return err
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
