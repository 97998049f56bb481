package hub

import (
	"strings"
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
	if q.push([]byte("aaaa")) != queued || q.push([]byte("bbbb")) != queued {
		t.Fatal("push within bounds failed")
	}
	if q.push([]byte("cc")) != queued {
		t.Fatal("push at the byte bound failed")
	}
	if q.push([]byte{}) != overflowed {
		t.Fatal("push over the count bound accepted")
	}
	if q.depth() != 3 {
		t.Fatalf("depth %d", q.depth())
	}
	bytes := &writeQueue{maxItems: 3, maxBytes: 10, flush: func() {}}
	bytes.push([]byte("aaaaaaaa"))
	if bytes.push([]byte("ccc")) != overflowed {
		t.Fatal("push over the byte bound accepted")
	}
	empty := &writeQueue{maxItems: 3, maxBytes: 10, flush: func() {}}
	if empty.push(make([]byte, 100)) != queued {
		t.Fatal("one message larger than the byte bound refused on an empty queue")
	}
	if empty.push([]byte("x")) != overflowed {
		t.Fatal("push behind an oversized message accepted")
	}
}

// TestWriteQueueOverflowFails: once a message is refused, nothing after it
// enters, however small, so the client never receives a message that
// follows one it missed; the final disconnect still goes out.
func TestWriteQueueOverflowFails(t *testing.T) {
	q := &writeQueue{maxItems: 100, maxBytes: 10, flush: func() {}}
	q.push([]byte("12345678"))
	if q.push([]byte("big")) != overflowed {
		t.Fatal("overflow not reported")
	}
	for _, msg := range []string{"a", ""} {
		if r, _ := q.pushLive([]byte(msg), 0); r != dropped {
			t.Fatalf("a push after the overflow got %v, want dropped", r)
		}
	}
	if q.pushAll([]entry{{msg: []byte("b")}}) != dropped {
		t.Fatal("a unit after the overflow was not dropped")
	}
	if !q.pushFinal([]byte("bye")) {
		t.Fatal("the final disconnect was refused by a failed queue")
	}
	if got := drain(q); got != "12345678|bye" {
		t.Fatalf("written %q", got)
	}
}

// TestWriteQueueCountsInflight: the batch the writer took counts against
// the bounds until it comes back for the next one.
func TestWriteQueueCountsInflight(t *testing.T) {
	q := &writeQueue{maxItems: 100, maxBytes: 10, flush: func() {}}
	q.push([]byte("12345678"))
	if _, _, _, stop := q.take(); stop {
		t.Fatal("nothing taken")
	}
	if q.hasRoom(3) {
		t.Fatal("room reported while 8 of 10 bytes are being written")
	}
	if r, _ := q.pushLive([]byte("abc"), 0); r != overflowed {
		t.Fatalf("push beside an 8-byte frame in flight: %v", r)
	}
	q2 := &writeQueue{maxItems: 100, maxBytes: 10, flush: func() {}}
	q2.push([]byte("12345678"))
	q2.take()
	if _, _, _, stop := q2.take(); !stop {
		t.Fatal("empty queue did not stop the writer")
	}
	if !q2.hasRoom(10) {
		t.Fatal("a written frame still counts")
	}
}

// TestWriteQueueWaitRoom: waitRoom returns once the writer frees enough,
// and at once with false when the queue ends.
func TestWriteQueueWaitRoom(t *testing.T) {
	q := &writeQueue{maxItems: 100, maxBytes: 10, flush: func() {}}
	q.push([]byte("123456"))
	done := make(chan bool)
	go func() { done <- q.waitRoom(1, 6) }()
	q.take() // in flight: still 6 bytes held
	select {
	case <-done:
		t.Fatal("waitRoom returned while the frame was in flight")
	default:
	}
	q.take() // written, nothing left
	if !<-done {
		t.Fatal("waitRoom reported no room after the queue drained")
	}
	q.push([]byte("123456"))
	go func() { done <- q.waitRoom(1, 6) }()
	q.close()
	if <-done {
		t.Fatal("waitRoom reported room on a closed queue")
	}
}

// drain takes everything, joining messages with "|".
func drain(q *writeQueue) string {
	var out []string
	for {
		batch, _, _, stop := q.take()
		if stop {
			return strings.Join(out, "|")
		}
		for _, m := range batch {
			out = append(out, string(m))
		}
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
	if q.push([]byte("dropped")) != dropped || q.depth() != 2 {
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
		unit := make([]entry, len(tc.unit))
		for j, m := range tc.unit {
			unit[j] = entry{msg: []byte(m)}
		}
		if got := q.pushAll(unit) == queued; got != tc.ok {
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
	if closing.pushAll([]entry{{msg: []byte("a")}}) != dropped || closing.depth() != 1 {
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
			t.Fatalf("burst %d: kept items %d batch %d", burst, cap(q.items), cap(q.batch))
		}
	}
}
