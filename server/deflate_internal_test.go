package server

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/heraldhq/herald/internal/outbound"
)

// TestSharedFormOnce: a shared message is compressed once for every
// connection with the same window, whichever goroutines frame it, and the
// very same bytes go into each connection's frame.
func TestSharedFormOnce(t *testing.T) {
	msg := outbound.NewShared([]byte(strings.Repeat(`{"type":"message","data":"hello"}`, 200)))
	var wg sync.WaitGroup
	forms := make([][]byte, 64)
	for i := range forms {
		wg.Go(func() { forms[i] = sharedForm(msg, maxWindowBits) })
	}
	wg.Wait()
	for _, f := range forms {
		if len(f) == 0 || unsafe.SliceData(f) != unsafe.SliceData(forms[0]) {
			t.Fatal("a connection got a compressed payload of its own")
		}
	}
	// A client with a small window gets a form of its own, once, valid
	// for every client with that window.
	small := sharedForm(msg, 10)
	if unsafe.SliceData(small) == unsafe.SliceData(forms[0]) || unsafe.SliceData(sharedForm(msg, 10)) != unsafe.SliceData(small) {
		t.Fatal("the 2^10 window's form is not made once")
	}
	for _, p := range [][]byte{forms[0], small} {
		got, err := inflateMessage(nil, p, 1<<20)
		if err != nil || !bytes.Equal(got, msg.Bytes) {
			t.Fatalf("inflate: %v", err)
		}
	}
	// A message no longer than the window shares the full window's form.
	short := outbound.NewShared([]byte(strings.Repeat("abcd", 64)))
	if unsafe.SliceData(sharedForm(short, 8)) != unsafe.SliceData(sharedForm(short, maxWindowBits)) {
		t.Fatal("a 256-byte message was compressed again for a 2^8 window")
	}
}

// TestAppendMessages: a batch leaves as frames in one buffer: small
// messages coalesced, uncompressed, a large one compressed in a frame of
// its own, in order.
func TestAppendMessages(t *testing.T) {
	c := &wsConn{deflateBits: maxWindowBits, deflateMin: 256}
	big := strings.Repeat("x", 1000)
	msgs := []outbound.Message{
		{Bytes: []byte("a")}, {Bytes: []byte("b")},
		{Bytes: []byte(big), Shared: outbound.NewShared([]byte(big))},
		{Bytes: []byte("c")},
	}
	f := getFrameBuffer()
	defer putFrameBuffer(f)
	c.appendMessages(f, c.dataOpCode(), msgs)
	type frame struct {
		rsv1 bool
		data string
	}
	var got []frame
	for b := f.b; len(b) > 0; {
		rsv1, n := b[0]&0x40 != 0, int(b[1]) // payloads under 126 bytes here
		p := b[2 : 2+n]
		if rsv1 {
			out, err := inflateMessage(nil, p, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			p = out
		}
		got = append(got, frame{rsv1, string(p)})
		b = b[2+n:]
	}
	want := []frame{{false, "a\nb"}, {true, big}, {false, "c"}}
	if len(got) != len(want) {
		t.Fatalf("frames %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzInflate: no input makes inflating panic or produce more than the
// limit, and whatever the server compresses inflates back.
func FuzzInflate(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Add([]byte{0x00})
	f.Add([]byte{0x02, 0x00})
	f.Add([]byte{0x4a, 0x4c, 0x4a, 0x06, 0x00})
	zeros, _ := deflateMessage(nil, make([]byte, 100000), false, maxWindowBits)
	f.Add(zeros)
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		out, err := inflateMessage(nil, data, limit)
		if len(out) > limit+1 {
			t.Fatalf("inflated %d bytes past a limit of %d (err %v)", len(out), limit, err)
		}
		for _, bits := range []uint8{8, 12, maxWindowBits} {
			p, ok := deflateMessage(nil, data, false, bits)
			if !ok {
				continue
			}
			back, err := inflateMessage(nil, p, int64(len(data)))
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("window %d: round trip failed: %v", bits, err)
			}
		}
	})
}
