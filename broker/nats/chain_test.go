package nats

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/internal/services"
)

// TestPageCostsThePage: a page far below the top fetches about as many
// messages as it returns, not the backlog between it and the top, in every
// shape a catch-up reads.
func TestPageCostsThePage(t *testing.T) {
	url := services.NATS(t)
	prefix := "herald-test-" + randomHex()
	cleanupPrefix(t, url, prefix)
	b := newBroker(t, testOptions(url, prefix))
	const backlog, size, limit = 1500, 1200, 20
	ch := "page-" + randomHex()
	opts := broker.PublishOptions{Stream: broker.StreamOptions{Size: size, TTL: time.Hour}}
	var top broker.StreamPosition
	for range backlog {
		p, _, err := b.Publish(ctx, ch, &broker.Publication{Data: []byte("x")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		top = p
	}
	lowest := top.Offset - size + 1
	// A seek costs a few requests for each doubling of the distance; the
	// walk costs the page.
	const budget = limit + 60
	for _, tc := range []struct {
		name   string
		opts   broker.HistoryOptions
		first  uint64
		broken bool
	}{
		{"oldest first from since", broker.HistoryOptions{Since: &broker.StreamPosition{Offset: lowest + 5, Epoch: top.Epoch}, Limit: limit}, lowest + 6, false},
		{"oldest first from a trimmed since", broker.HistoryOptions{Since: &broker.StreamPosition{Offset: 3, Epoch: top.Epoch}, Limit: limit}, lowest, true},
		{"oldest first without since", broker.HistoryOptions{Limit: limit}, lowest, false},
		{"newest first from since", broker.HistoryOptions{Since: &broker.StreamPosition{Offset: lowest + 5, Epoch: top.Epoch}, Limit: limit, Reverse: true}, top.Offset, false},
		{"verdict only", broker.HistoryOptions{Since: &broker.StreamPosition{Offset: lowest + 5, Epoch: top.Epoch}, Limit: -1}, 0, false},
	} {
		before := b.historyReads.Load()
		pubs, pos, err := b.History(ctx, ch, tc.opts)
		reads := b.historyReads.Load() - before
		if errors.Is(err, broker.ErrUnrecoverable) != tc.broken || (err != nil && !tc.broken) || pos != top {
			t.Fatalf("%s: %v at %+v", tc.name, err, pos)
		}
		if tc.first != 0 && (len(pubs) != limit || pubs[0].Offset != tc.first) {
			t.Fatalf("%s: %d publications from %v, want %d from %d", tc.name, len(pubs), offsetsOf(pubs), limit, tc.first)
		}
		if reads > budget {
			t.Errorf("%s: fetched %d messages for a page of %d", tc.name, reads, limit)
		}
	}
}

func offsetsOf(pubs []*broker.Publication) string {
	if len(pubs) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", pubs[0].Offset, pubs[len(pubs)-1].Offset)
}
