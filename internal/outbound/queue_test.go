package outbound

import "testing"

// writerConn is a Conn whose writer the test plays (see playWriter).
func writerConn(items, bytes int) *Conn {
	c, _, _ := newTestConn(items, bytes)
	playWriter(c)
	return c
}

func TestBounds(t *testing.T) {
	c := writerConn(3, 10)
	if c.Push([]byte("aaaa")) != Queued || c.Push([]byte("bbbb")) != Queued {
		t.Fatal("push within bounds failed")
	}
	if c.Push([]byte("cc")) != Queued {
		t.Fatal("push at the byte bound failed")
	}
	if c.Push([]byte{}) != Overflowed {
		t.Fatal("push over the count bound accepted")
	}
	if depth(c) != 3 {
		t.Fatalf("depth %d", depth(c))
	}
	bytes := writerConn(3, 10)
	bytes.Push([]byte("aaaaaaaa"))
	if bytes.Push([]byte("ccc")) != Overflowed {
		t.Fatal("push over the byte bound accepted")
	}
	empty := writerConn(3, 10)
	if empty.Push(make([]byte, 100)) != Queued {
		t.Fatal("one message larger than the byte bound refused on an empty queue")
	}
	if empty.Push([]byte("x")) != Overflowed {
		t.Fatal("push behind an oversized message accepted")
	}
}

// TestOverflowFails: once a message is refused, nothing after it enters,
// however small, so the client never receives a message that follows one
// it missed; the final disconnect still goes out.
func TestOverflowFails(t *testing.T) {
	c := writerConn(100, 10)
	c.Push([]byte("12345678"))
	if c.Push([]byte("big")) != Overflowed {
		t.Fatal("overflow not reported")
	}
	for _, msg := range []string{"a", ""} {
		if r, _ := c.PushLive(NewShared([]byte(msg)), 0); r != Dropped {
			t.Fatalf("a push after the overflow got %v, want Dropped", r)
		}
	}
	if c.PushAll([]Entry{{Msg: []byte("b")}}) != Dropped {
		t.Fatal("a unit after the overflow was not dropped")
	}
	if !c.PushFinal([]byte("bye")) {
		t.Fatal("the final disconnect was refused by a failed queue")
	}
	if got := drain(c); got != "12345678|bye" {
		t.Fatalf("written %q", got)
	}
}

// TestCountsInflight: the frame the writer took counts against the bounds
// until it comes back for the next one.
func TestCountsInflight(t *testing.T) {
	c := writerConn(100, 10)
	c.Push([]byte("12345678"))
	if _, _, stop := takeOne(c); stop {
		t.Fatal("nothing taken")
	}
	if c.HasRoom(3) {
		t.Fatal("room reported while 8 of 10 bytes are being written")
	}
	if r, _ := c.PushLive(NewShared([]byte("abc")), 0); r != Overflowed {
		t.Fatalf("push beside an 8-byte frame in flight: %v", r)
	}
	c2 := writerConn(100, 10)
	c2.Push([]byte("12345678"))
	takeOne(c2)
	if _, _, stop := takeOne(c2); !stop {
		t.Fatal("empty queue did not stop the writer")
	}
	if !c2.HasRoom(10) {
		t.Fatal("a written frame still counts")
	}
}

// TestWaitRoom: WaitRoom returns once the writer frees enough, and at once
// with false when the Conn ends.
func TestWaitRoom(t *testing.T) {
	c := writerConn(100, 10)
	c.Push([]byte("123456"))
	done := make(chan bool)
	go func() { done <- c.WaitRoom(1, 6) }()
	takeOne(c) // in flight: still 6 bytes held
	select {
	case <-done:
		t.Fatal("WaitRoom returned while the frame was in flight")
	default:
	}
	takeOne(c) // written, nothing left
	if !<-done {
		t.Fatal("WaitRoom reported no room after the queue drained")
	}
	c.Push([]byte("123456"))
	go func() { done <- c.WaitRoom(1, 6) }()
	c.Close()
	if <-done {
		t.Fatal("WaitRoom reported room on a closed Conn")
	}
}

func TestTakeCoalescesUpToFrameSize(t *testing.T) {
	c := writerConn(1000, 1<<30)
	big := make([]byte, maxFrameBytes/2)
	for range 5 {
		c.Push(big)
	}
	batch, _, stop := takeOne(c)
	if stop || len(batch) != 1 {
		t.Fatalf("first frame has %d messages, want 1 (two halves plus a separator exceed a frame)", len(batch))
	}
	c2 := writerConn(1000, 1<<30)
	for range 100 {
		c2.Push([]byte("x"))
	}
	batch, _, _ = takeOne(c2)
	if len(batch) != 100 {
		t.Fatalf("small messages: %d in one frame, want 100", len(batch))
	}
	if c2.bytes != 0 || depth(c2) != 0 {
		t.Fatalf("accounting after take: bytes %d depth %d", c2.bytes, depth(c2))
	}
}

func TestFinal(t *testing.T) {
	c := writerConn(1, 10)
	c.Push([]byte("a"))
	if !c.PushFinal([]byte("bye")) {
		t.Fatal("PushFinal refused")
	}
	if c.PushFinal([]byte("again")) {
		t.Fatal("second PushFinal accepted")
	}
	if c.Push([]byte("dropped")) != Dropped || depth(c) != 2 {
		t.Fatalf("push after final must be dropped silently; depth %d", depth(c))
	}
	b, finished, _ := takeOne(c)
	if len(b) != 2 || finished {
		t.Fatalf("take %d messages, finished %v", len(b), finished)
	}
	if _, finished, stop := takeOne(c); !finished || !stop {
		t.Fatal("drained closing queue should report finished")
	}
}

// TestPushAllBounds: a unit is refused exactly when pushing its messages
// one by one would be, and then nothing of it is queued.
func TestPushAllBounds(t *testing.T) {
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
		c := writerConn(3, 10)
		for _, m := range tc.queued {
			c.Push([]byte(m))
		}
		unit := make([]Entry, len(tc.unit))
		for j, m := range tc.unit {
			unit[j] = Entry{Msg: []byte(m)}
		}
		if got := c.PushAll(unit) == Queued; got != tc.ok {
			t.Errorf("case %d: PushAll %v, want %v", i, got, tc.ok)
		}
		want := len(tc.queued)
		if tc.ok {
			want += len(tc.unit)
		}
		if depth(c) != want {
			t.Errorf("case %d: depth %d, want %d", i, depth(c), want)
		}
	}
	closing := writerConn(3, 10)
	closing.PushFinal([]byte("bye"))
	if closing.PushAll([]Entry{{Msg: []byte("a")}}) != Dropped || depth(closing) != 1 {
		t.Fatal("a closing Conn must drop a unit without reporting overflow")
	}
}

// TestReleasesBacklogArrays: after a burst drains, the queue keeps no more
// than keptSlots of array, so connections that once had a backlog do not
// hold its size forever.
func TestReleasesBacklogArrays(t *testing.T) {
	for _, burst := range []int{keptSlots, keptSlots + 4, 10 * keptSlots} {
		c := writerConn(1000, 1<<20)
		for range burst {
			c.Push([]byte("m"))
		}
		drain(c)
		if cap(c.items) > keptSlots || cap(c.stamps) > keptSlots || cap(c.batch) > keptSlots {
			t.Fatalf("burst %d: kept items %d batch %d", burst, cap(c.items), cap(c.batch))
		}
	}
}

// budget is a Budget that sums what it is told.
type budget struct{ n int }

func (b *budget) Add(n int) { b.n += n }

// TestBudgetCountsPrivateBytes: private messages count against the budget
// while queued, reserved or being written, and no longer once written or
// dropped; shared ones never count.
func TestBudgetCountsPrivateBytes(t *testing.T) {
	var b budget
	c := &Conn{}
	c.Init(Config{Writes: (&wire{}).writes(false), Events: &events{}, MaxMessages: 100, MaxBytes: 100, Budget: &b})
	playWriter(c)
	c.Push([]byte("reply"))
	c.PushLive(NewShared([]byte("shared")), 7)
	c.Reserve(3)
	if b.n != 8 || c.PrivateBytes() != 8 {
		t.Fatalf("budget %d, private %d; want 8", b.n, c.PrivateBytes())
	}
	c.Reserve(-3)
	takeOne(c) // both in flight
	if b.n != 5 {
		t.Fatalf("budget %d with the reply in flight, want 5", b.n)
	}
	takeOne(c) // written
	if b.n != 0 || c.PrivateBytes() != 0 {
		t.Fatalf("budget %d, private %d after the frame was written", b.n, c.PrivateBytes())
	}
	c.Push([]byte("again"))
	c.Cut([]byte("bye"))
	if b.n != 0 {
		t.Fatalf("budget %d after a cut dropped the reply", b.n)
	}
}
