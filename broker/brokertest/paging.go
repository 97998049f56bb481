package brokertest

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

// testHistoryPaging is how the hub catches a client up: pages of Limit
// read forward from Since, each starting at the last offset the one before
// returned. The stream here is long and trimmed at its old end, so most
// pages start far below the top, where a broker that reads from the top
// down would do work in proportion to the backlog.
func testHistoryPaging(t *testing.T, e *env) {
	const published, size = 260, 200
	ch := e.ch("paging")
	opts := keep(size, time.Hour)
	var top broker.StreamPosition
	for i := 1; i <= published; i++ {
		top = publish(t, e.b, ch, strconv.Itoa(i), opts)
	}
	lowest := top.Offset - size + 1 // the oldest offset retained
	check := func(what string, pubs []*broker.Publication, from uint64, n int) {
		t.Helper()
		want := seq(from, min(from+uint64(n)-1, top.Offset))
		if !eq(offsets(pubs), want...) {
			t.Fatalf("%s: offsets %v, want %v", what, offsets(pubs), want)
		}
		for _, p := range pubs {
			if string(p.Data) != strconv.FormatUint(p.Offset, 10) {
				t.Fatalf("%s: publication %d holds %q", what, p.Offset, p.Data)
			}
		}
	}

	for _, limit := range []int{7, 50} {
		// From just below the oldest retained to the top: every page
		// contiguous with the one before, the last ending at the top.
		s := lowest - 1
		for pages := 0; s < top.Offset; pages++ {
			if pages > published {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: since(s, top.Epoch), Limit: limit})
			what := fmt.Sprintf("limit %d, page since %d", limit, s)
			if err != nil || pos != top {
				t.Fatalf("%s: %s, want position %+v", what, describe(pubs, pos, err), top)
			}
			check(what, pubs, s+1, limit)
			s = pubs[len(pubs)-1].Offset
		}
		// Past the top there is nothing more.
		if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: &top, Limit: limit}); err != nil || len(pubs) != 0 || pos != top {
			t.Fatalf("limit %d, page since the top: %s", limit, describe(pubs, pos, err))
		}

		// From a trimmed position: unrecoverable, and the page is the
		// oldest publications retained.
		for _, trimmed := range []uint64{0, 1, lowest - 2} {
			pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: since(trimmed, top.Epoch), Limit: limit})
			what := fmt.Sprintf("limit %d, page since trimmed %d", limit, trimmed)
			if !errors.Is(err, broker.ErrUnrecoverable) || pos != top {
				t.Fatalf("%s: %s, want ErrUnrecoverable", what, describe(pubs, pos, err))
			}
			check(what, pubs, lowest, limit)
		}
		// No position: the oldest retained, recoverable.
		pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Limit: limit})
		if err != nil || pos != top {
			t.Fatalf("limit %d, oldest page: %s", limit, describe(pubs, pos, err))
		}
		check(fmt.Sprintf("limit %d, oldest page", limit), pubs, lowest, limit)

		// Newest first from far below: the newest page, and the verdict on
		// the position all the same.
		for _, tc := range []struct {
			since  uint64
			broken bool
		}{{lowest - 1, false}, {lowest + 10, false}, {lowest - 2, true}} {
			pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: since(tc.since, top.Epoch), Limit: limit, Reverse: true})
			want := seq(top.Offset-uint64(limit)+1, top.Offset)
			for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
				want[i], want[j] = want[j], want[i]
			}
			if errors.Is(err, broker.ErrUnrecoverable) != tc.broken || pos != top || !eq(offsets(pubs), want...) {
				t.Fatalf("limit %d, newest first since %d: %s, want %v and unrecoverable %v",
					limit, tc.since, describe(pubs, pos, err), want, tc.broken)
			}
		}
	}
}

// testHistoryPagingExpired pages a stream whose oldest publications
// expired while newer ones live: the retained run starts after them.
func testHistoryPagingExpired(t *testing.T, e *env) {
	const expiring, living = 30, 60
	ch := e.ch("paging-expired")
	for i := 1; i <= expiring; i++ {
		publish(t, e.b, ch, strconv.Itoa(i), keep(1000, shortTTL))
	}
	var top broker.StreamPosition
	for i := expiring + 1; i <= expiring+living; i++ {
		top = publish(t, e.b, ch, strconv.Itoa(i), keep(1000, time.Hour))
	}
	first := uint64(expiring + 1)
	eventually(t, func() string {
		// The expiring publications go one by one, as they came.
		pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: since(0, top.Epoch), Limit: 5})
		if !errors.Is(err, broker.ErrUnrecoverable) || pos != top || !eq(offsets(pubs), seq(first, first+4)...) {
			return fmt.Sprintf("since 0 after expiry: %s, want %v and ErrUnrecoverable", describe(pubs, pos, err), seq(first, first+4))
		}
		return ""
	})
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: since(first-1, top.Epoch), Limit: 5}); err != nil || !eq(offsets(pubs), seq(first, first+4)...) {
		t.Fatalf("since the last expired: %s", describe(pubs, pos, err))
	}
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Since: since(first-2, top.Epoch), Limit: 5}); !errors.Is(err, broker.ErrUnrecoverable) || !eq(offsets(pubs), seq(first, first+4)...) {
		t.Fatalf("since an expired one: %s, want ErrUnrecoverable", describe(pubs, pos, err))
	}
	if pubs, pos, err := history(t, e.b, ch, broker.HistoryOptions{Limit: 5}); err != nil || !eq(offsets(pubs), seq(first, first+4)...) {
		t.Fatalf("oldest page after expiry: %s", describe(pubs, pos, err))
	}
}

// BenchmarkHistoryPage measures one page of a catch-up, Limit publications
// read from Since, against a stream of backlog publications: from the
// oldest retained ("old") and from just below the top ("top"). A broker
// whose page costs O(Limit) shows the same time for both; one that reads
// the backlog to serve a page shows "old" growing with it.
//
// newBroker is called once; the broker is closed when the benchmark ends.
func BenchmarkHistoryPage(b *testing.B, newBroker func(b *testing.B) broker.Broker, backlog, limit int) {
	br := newBroker(b)
	b.Cleanup(func() { _ = br.Close() })
	ch := "bench-page-" + randomHex()
	opts := keep(backlog, time.Hour)
	data := make([]byte, 1024)
	var top broker.StreamPosition
	for range backlog {
		pos, _, err := br.Publish(ctx, ch, &broker.Publication{Data: data}, opts)
		if err != nil {
			b.Fatal(err)
		}
		top = pos
	}
	for _, bc := range []struct {
		name  string
		since uint64
	}{
		{"old", top.Offset - uint64(backlog)},
		{"top", top.Offset - uint64(2*limit)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := since(bc.since, top.Epoch)
			for b.Loop() {
				pubs, _, err := br.History(ctx, ch, broker.HistoryOptions{Since: s, Limit: limit})
				if err != nil || len(pubs) != limit || pubs[0].Offset != bc.since+1 {
					b.Fatalf("page since %d: %d publications, %v", bc.since, len(pubs), err)
				}
			}
		})
	}
}
