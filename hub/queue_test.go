package hub

import (
	"sync"
	"testing"
)

func newTestQueue(items, bytes int) (*writeQueue, *[][]byte, *sync.WaitGroup) {
	var got [][]byte
	var wg sync.WaitGroup
	q := &writeQueue{maxItems: items, maxBytes: bytes}
	q.flush = func() {
		defer wg.Done()
		for {
			batch, _, _, stop := q.take()
			if stop {
				return
			}
			got = append(got, batch...)
		}
	}
	return q, &got, &wg
}

func TestWriteQueueBounds(t *testing.T) {
	q := &writeQueue{maxItems: 3, maxBytes: 10, flush: func() {}}
	if !q.push([]byte("aaaa")) || !q.push([]byte("bbbb")) {
		t.Fatal("push within bounds failed")
	}
	if q.push([]byte("ccc")) {
		t.Fatal("push over the byte bound succeeded")
	}
	if !q.push([]byte("cc")) {
		t.Fatal("push at the byte bound failed")
	}
	if q.push([]byte{}) {
		t.Fatal("push over the count bound succeeded")
	}
	if q.depth() != 3 {
		t.Fatalf("depth %d", q.depth())
	}
	empty := &writeQueue{maxItems: 3, maxBytes: 10, flush: func() {}}
	if !empty.push(make([]byte, 100)) {
		t.Fatal("one message larger than the byte bound refused on an empty queue")
	}
	if empty.push([]byte("x")) {
		t.Fatal("push behind an oversized message accepted")
	}
}

func TestWriteQueueTakeCoalescesUpToFrameSize(t *testing.T) {
	q := &writeQueue{maxItems: 1000, maxBytes: 1 << 30, flush: func() {}}
	big := make([]byte, maxFrameBytes/2)
	for i := 0; i < 5; i++ {
		q.push(big)
	}
	batch, _, _, stop := q.take()
	if stop || len(batch) != 1 {
		t.Fatalf("first frame has %d messages, want 1 (two halves plus a newline exceed a frame)", len(batch))
	}
	small := []byte("x")
	q2 := &writeQueue{maxItems: 1000, maxBytes: 1 << 30, flush: func() {}}
	for i := 0; i < 100; i++ {
		q2.push(small)
	}
	batch, _, _, _ = q2.take()
	if len(batch) != 100 {
		t.Fatalf("small messages: %d in one frame, want 100", len(batch))
	}
	if q2.bytes != 0 || q2.depth() != 0 {
		t.Fatalf("accounting after take: bytes %d depth %d", q2.bytes, q2.depth())
	}
}

func TestWriteQueueWriterRunsOnlyWhenNeeded(t *testing.T) {
	q, got, wg := newTestQueue(100, 1000)
	wg.Add(1)
	q.push([]byte("a"))
	wg.Wait()
	q.mu.Lock()
	writing := q.writing
	q.mu.Unlock()
	if writing || len(*got) != 1 {
		t.Fatalf("writing %v, got %d", writing, len(*got))
	}
}

func TestWriteQueueFinal(t *testing.T) {
	q := &writeQueue{maxItems: 1, maxBytes: 10, flush: func() {}}
	q.push([]byte("a"))
	if !q.pushFinal([]byte("bye")) {
		t.Fatal("pushFinal refused")
	}
	if q.pushFinal([]byte("again")) {
		t.Fatal("second pushFinal accepted")
	}
	if !q.push([]byte("dropped")) || q.depth() != 2 {
		t.Fatalf("push after final must be dropped silently; depth %d", q.depth())
	}
	b, _, finished, _ := q.take()
	if len(b) != 2 || finished {
		t.Fatalf("take %q finished %v", b, finished)
	}
	if _, _, finished, stop := q.take(); !finished || !stop {
		t.Fatal("drained closing queue should report finished")
	}
}

// TestWriteQueuePushAllBounds: a unit is refused exactly when pushing its
// messages one by one would be, and then nothing of it is queued.
func TestWriteQueuePushAllBounds(t *testing.T) {
	cases := []struct {
		queued []string
		unit   []string
		ok     bool
	}{
		{nil, []string{"aaaa", "bbbb"}, true},
		{nil, []string{"aaaa", "bbbb", "cc"}, true},      // exactly 10 bytes
		{nil, []string{"aaaa", "bbbb", "ccc"}, false},    // 11 bytes
		{nil, []string{"a", "b", "c", "d"}, false},       // 4 messages
		{nil, []string{string(make([]byte, 100))}, true}, // one oversized message on an empty queue
		{nil, []string{string(make([]byte, 100)), "x"}, false},
		{[]string{"aaaaaaaa"}, []string{"bb"}, true},
		{[]string{"aaaaaaaa"}, []string{"b", "cc"}, false},
		{[]string{"a", "b"}, []string{"c", "d"}, false},
	}
	for i, tc := range cases {
		q := &writeQueue{maxItems: 3, maxBytes: 10, flush: func() {}}
		for _, m := range tc.queued {
			q.push([]byte(m))
		}
		unit := make([][]byte, len(tc.unit))
		for j, m := range tc.unit {
			unit[j] = []byte(m)
		}
		if got := q.pushAll(unit); got != tc.ok {
			t.Errorf("case %d: pushAll %v, want %v", i, got, tc.ok)
		}
		want := len(tc.queued)
		if tc.ok {
			want += len(tc.unit)
		}
		if q.depth() != want {
			t.Errorf("case %d: depth %d, want %d", i, q.depth(), want)
		}
	}
	closing := &writeQueue{maxItems: 3, maxBytes: 10, flush: func() {}}
	closing.pushFinal([]byte("bye"))
	if !closing.pushAll([][]byte{[]byte("a")}) || closing.depth() != 1 {
		t.Fatal("a closing queue must drop a unit without reporting overflow")
	}
}

// TestWriteQueueCork: while corked no writer starts, so everything pushed
// meanwhile goes out in one take once uncorked.
func TestWriteQueueCork(t *testing.T) {
	q, got, wg := newTestQueue(100, 1000)
	var batches int
	inner := q.flush
	q.flush = func() {
		batches++
		inner()
	}
	q.cork()
	q.push([]byte("reply"))
	q.push([]byte("push"))
	q.mu.Lock()
	writing := q.writing
	q.mu.Unlock()
	if writing {
		t.Fatal("a writer started while corked")
	}
	wg.Add(1)
	q.uncork()
	wg.Wait()
	if batches != 1 || len(*got) != 2 {
		t.Fatalf("%d writers, got %q", batches, *got)
	}
	// Uncorked with nothing pending starts nothing.
	q.cork()
	q.uncork()
	if batches != 1 {
		t.Fatal("uncork started a writer for an empty queue")
	}
}

// TestWriteQueueUncorkWritesInline: uncork writes the first frame on its
// own goroutine and starts a flush goroutine only when something is left
// after it.
func TestWriteQueueUncorkWritesInline(t *testing.T) {
	q, got, wg := newTestQueue(100, 1000)
	flushes := 0
	inner := q.flush
	q.flush = func() { flushes++; inner() }
	var inline [][]byte
	var during func()
	q.inline = func() bool {
		batch, _, _, stop := q.take()
		if !stop {
			inline = append(inline, batch...)
		}
		if during != nil {
			during()
		}
		return q.keepWriting()
	}

	q.cork()
	q.push([]byte("reply"))
	q.push([]byte("push"))
	q.uncork()
	if len(inline) != 2 || flushes != 0 {
		t.Fatalf("inline %q, %d flush goroutines", inline, flushes)
	}
	q.mu.Lock()
	writing := q.writing
	q.mu.Unlock()
	if writing {
		t.Fatal("the writer's role was kept after an inline write emptied the queue")
	}

	// A push that lands while the inline frame is being written is left
	// to a flush goroutine.
	inline = nil
	during = func() { q.push([]byte("late")) }
	q.cork()
	q.push([]byte("reply"))
	wg.Add(1)
	q.uncork()
	wg.Wait()
	if len(inline) != 1 || flushes != 1 || len(*got) != 1 || string((*got)[0]) != "late" {
		t.Fatalf("inline %q, flushed %q by %d goroutines", inline, *got, flushes)
	}

	// Pushes while not corked start a flush goroutine as before.
	during = nil
	wg.Add(1)
	q.push([]byte("live"))
	wg.Wait()
	if flushes != 2 || len(inline) != 1 {
		t.Fatalf("a push outside a frame wrote inline (%q) or started no writer (%d)", inline, flushes)
	}
}

// TestWriteQueueReleasesBacklogArrays: after a burst drains, the queue
// keeps no more than keptSlots of array, so connections that once had a
// backlog do not hold its size forever.
func TestWriteQueueReleasesBacklogArrays(t *testing.T) {
	for _, burst := range []int{keptSlots, keptSlots + 4, 10 * keptSlots} {
		q := &writeQueue{maxItems: 1000, maxBytes: 1 << 20, flush: func() {}}
		for range burst {
			q.push([]byte("m"))
		}
		for {
			if _, _, _, stop := q.take(); stop {
				break
			}
		}
		if cap(q.items) > keptSlots || cap(q.stamps) > keptSlots || cap(q.batch) > keptSlots {
			t.Fatalf("burst %d: kept items %d stamps %d batch %d", burst, cap(q.items), cap(q.stamps), cap(q.batch))
		}
	}
}
