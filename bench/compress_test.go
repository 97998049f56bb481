package bench

import (
	"bytes"
	"compress/flate"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// TestReadLoopInflates: a message that arrives compressed (RSV1, the
// deflate tail stripped) reaches the handler inflated, between plain ones.
func TestReadLoopInflates(t *testing.T) {
	client, srv := net.Pipe()
	defer srv.Close()
	got := make(chan uint64, 3)
	c := &conn{nc: client, raw: true, done: make(chan struct{}),
		onMsg: func(_ *conn, f fields, _ int64) { got <- f.seq }}
	go c.readLoop(client, true)

	frame := func(p []byte, compressed bool) {
		t.Helper()
		h := ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(len(p))}
		if compressed {
			h.Rsv = ws.Rsv(true, false, false)
		}
		if err := ws.WriteHeader(srv, h); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	deflate := func(p []byte) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestSpeed)
		w.Write(p)
		w.Flush()
		return bytes.TrimSuffix(b.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
	}
	frame(payload(1, 1, 0, 100), false)
	frame(deflate(payload(1, 2, 0, 4000)), true)
	frame(payload(1, 3, 0, 100), false)
	for want := uint64(1); want <= 3; want++ {
		select {
		case seq := <-got:
			if seq != want {
				t.Fatalf("message %d, want %d", seq, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d never came", want)
		}
	}
}

// TestFanoutCompressed: with --compress, a fan-out of messages above the
// server's threshold arrives whole from a server that compresses, and
// from one that declines the offer.
func TestFanoutCompressed(t *testing.T) {
	for _, on := range []bool{true, false} {
		s := ht.Start(t, ht.Options{Server: server.Config{Compression: on}})
		cfg := base(s, "fanout")
		cfg.Compress, cfg.Size = true, 2000
		r := run(t, cfg).Results[0]
		sane(t, r, r.Published*5)
	}
}
