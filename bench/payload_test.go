package bench

import (
	"encoding/json"
	"testing"
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
		push := []byte(`{"type":"message","channel":"bench:x","offset": 9,"data":` + string(p) + `,"ts":1}`)
		f, ok := parsePayload(push)
		if !ok || f.sendNs != 1234567890123 || f.seq != 42 || f.client != 7 {
			t.Fatalf("parsed %+v %v", f, ok)
		}
		if off, ok := scanInt(push, `"offset"`); !ok || off != 9 {
			t.Fatalf("offset %d %v", off, ok)
		}
		if ch := scanString(push, `"channel"`); string(ch) != "bench:x" {
			t.Fatalf("channel %q", ch)
		}
	}
	if _, ok := parsePayload([]byte(`{"hello":1}`)); ok {
		t.Fatal("a foreign message parsed as a payload")
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
