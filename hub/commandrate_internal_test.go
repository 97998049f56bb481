package hub

import (
	"testing"
	"time"
	"unsafe"
)

// TestCommandBucket: a fresh bucket allows burst commands at once, then
// none until time refills it at rate, never past burst.
func TestCommandBucket(t *testing.T) {
	const rate, burst = 10.0, 3 // a token every 100 ms
	var b commandBucket
	now := int64(time.Second)
	for i := range burst {
		if !b.allow(now, rate, burst) {
			t.Fatalf("command %d of a full bucket refused", i+1)
		}
	}
	if b.allow(now, rate, burst) {
		t.Fatal("allowed past the burst")
	}
	if b.allow(now+int64(50*time.Millisecond), rate, burst) {
		t.Fatal("allowed after half a token's refill")
	}
	if !b.allow(now+int64(100*time.Millisecond), rate, burst) {
		t.Fatal("refused after a token's refill")
	}
	// An hour idle refills to burst, not beyond.
	later := now + int64(time.Hour)
	for i := range burst {
		if !b.allow(later, rate, burst) {
			t.Fatalf("command %d after a long pause refused", i+1)
		}
	}
	if b.allow(later, rate, burst) {
		t.Fatal("a long pause refilled past the burst")
	}
	// A clock that reads earlier (two readers never share a bucket, but
	// monotonic readings can repeat) takes nothing extra.
	if b.allow(later-int64(time.Second), rate, burst) {
		t.Fatal("an earlier reading refilled the bucket")
	}
}

// TestClientSize: every connection has a Client, so its size class is
// memory per connection; the field order keeps it at 576 bytes on 64-bit
// platforms (the next size class is 640).
func TestClientSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit platforms")
	}
	if got := unsafe.Sizeof(Client{}); got > 576 {
		t.Fatalf("Client is %d bytes, more than the 576-byte size class", got)
	}
}
