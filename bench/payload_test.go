package bench

import (
	"encoding/json"
	"testing"

	"github.com/heraldhq/herald/protocol"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{1, 128, 4096} {
		p := payload(1234567890123, 42, 7, size)
		if len(p) < size || (size > 64 && len(p) != size) {
			t.Errorf("size %d: got %d bytes", size, len(p))
		}
		if !json.Valid(p) {
			t.Fatalf("not JSON: %s", p)
		}
		f, ok := parsePayload(p)
		if !ok || f.sendNs != 1234567890123 || f.seq != 42 || f.client != 7 {
			t.Fatalf("parsed %+v %v", f, ok)
		}
	}
	if _, ok := parsePayload([]byte(`{"hello":1}`)); ok {
		t.Fatal("a foreign message parsed as a payload")
	}
}

// TestOnFrame: a frame as the server encodes it, a publication's push
// between two replies, reaches the scenario with the payload's stamps and
// the push's channel and offset; the error reply nobody waits for is
// counted by code, the awaited one reaches its call.
func TestOnFrame(t *testing.T) {
	p := payload(1234567890123, 42, 7, 128)
	frame := encoding.AppendErrorReply(nil, 3, protocol.ErrTooManyRequests)
	frame = append(frame, encoding.Separator()...)
	frame = encoding.AppendMessagePush(frame, "bench:x", &protocol.Publication{Offset: 9, Data: p, JSON: true})
	frame = append(frame, encoding.Separator()...)
	frame = encoding.AppendErrorReply(frame, 4, protocol.ErrUnauthorized)
	var got []fields
	c := &conn{onMsg: func(_ *conn, f fields, _ int64) { got = append(got, f) }, pending: map[uint32]*pendingCall{}}
	awaited := make(chan *protocol.Error, 1)
	c.pending[4] = &pendingCall{ch: awaited}
	c.onFrame(frame)
	want := fields{sendNs: 1234567890123, seq: 42, client: 7, offset: 9, channel: "bench:x"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("handler got %+v, want %+v", got, want)
	}
	if e := <-awaited; e == nil || e.Code != protocol.CodeUnauthorized {
		t.Fatalf("awaited reply %v", e)
	}
	key := errorReplyKey(protocol.ErrTooManyRequests)
	if c.cmdErrors.Load() != 1 || c.errorCodes()[key] != 1 {
		t.Fatalf("errors %d %v, want 1 under %q", c.cmdErrors.Load(), c.errorCodes(), key)
	}
}

// TestTracker: gaps, a missing tail, duplicates and reordering.
func TestTracker(t *testing.T) {
	var tr tracker
	for _, p := range []uint64{5, 6, 8, 7, 7, 9, 9, 10} {
		tr.see(p)
	}
	if tr.unique != 6 || tr.dups != 2 {
		t.Fatalf("unique %d dups %d", tr.unique, tr.dups)
	}
	tr.see(10 + 3*window) // a jump far ahead
	tr.see(11)            // far behind the window: a duplicate at best
	tr.see(10 + 3*window - 1)
	if tr.unique != 8 || tr.dups != 3 {
		t.Fatalf("after a jump: unique %d dups %d", tr.unique, tr.dups)
	}
	var seq tracker
	for i := uint64(1); i <= 3*window; i++ {
		seq.see(i)
		seq.see(i)
	}
	if seq.unique != 3*window || seq.dups != 3*window {
		t.Fatalf("long run: unique %d dups %d", seq.unique, seq.dups)
	}
}

// BenchmarkOnFrame is the client's cost of one delivery, a 64-byte
// payload's push as the server encodes it: what the load generator spends
// per message, on the cores the server under test uses too.
func BenchmarkOnFrame(b *testing.B) {
	frame := encoding.AppendMessagePush(nil, "bench:fanout.0123abcd", &protocol.Publication{Offset: 12345, Data: payload(1234567890123, 42, publisherID, 64), JSON: true, Time: 1765000000000})
	c := &conn{onMsg: func(c *conn, f fields, _ int64) { c.track(f) }, trackers: map[string]*tracker{}}
	b.ReportAllocs()
	for b.Loop() {
		c.onFrame(frame)
	}
}
