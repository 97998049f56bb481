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
			batch, _, stop := q.take()
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
	batch, _, stop := q.take()
	if stop || len(batch) != 1 {
		t.Fatalf("first frame has %d messages, want 1 (two halves plus a newline exceed a frame)", len(batch))
	}
	small := []byte("x")
	q2 := &writeQueue{maxItems: 1000, maxBytes: 1 << 30, flush: func() {}}
	for i := 0; i < 100; i++ {
		q2.push(small)
	}
	batch, _, _ = q2.take()
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
	b, finished, _ := q.take()
	if len(b) != 2 || finished {
		t.Fatalf("take %q finished %v", b, finished)
	}
	if _, finished, stop := q.take(); !finished || !stop {
		t.Fatal("drained closing queue should report finished")
	}
}
