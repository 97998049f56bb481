package server

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldhq/herald/protocol"
)

// clientFrame is a masked client frame for the seed corpus.
func clientFrame(first byte, payload []byte) []byte {
	b := []byte{first}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// FuzzReadFrames feeds arbitrary bytes to a connection's frame reader as
// its peer's input. Whatever arrives, reading must end (no hang, no panic
// reaching the recover), hand on only whole data messages within the size
// limit, and end with a code the protocol allows.
func FuzzReadFrames(f *testing.F) {
	text := clientFrame(0x81, []byte(`{"id":1,"type":"connect"}`))
	f.Add(text)
	f.Add(append(clientFrame(0x01, []byte("ab")), append(clientFrame(0x89, []byte("p")), clientFrame(0x80, []byte("cd"))...)...))
	f.Add(clientFrame(0x88, binary.BigEndian.AppendUint16(nil, 1000)))
	f.Add(clientFrame(0x88, []byte{3}))
	f.Add(clientFrame(0x82, make([]byte, 300)))
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})
	f.Add([]byte{0x81, 0x02, '{', '}'})
	f.Add(append(text, text[:5]...))
	const maxMessage = 1024
	f.Fuzz(func(t *testing.T, input []byte) {
		server, peer := net.Pipe()
		defer peer.Close()
		go func() { _, _ = io.Copy(io.Discard, peer) }() // pongs, close frames
		go func() {
			_, _ = peer.Write(input)
			_ = peer.Close()
		}()
		c := &wsConn{
			raw:        &halfCloseConn{Conn: server},
			enc:        protocol.JSON,
			maxMessage: maxMessage,
			panicked:   func(v any) { t.Errorf("panic reading frames: %v", v) },
		}
		c.w.Timeout = time.Second
		c.onControl = c.control
		c.handle = func(_ *wsConn, op ws.OpCode, data []byte) {
			if op != ws.OpText && op != ws.OpBinary {
				t.Errorf("handed a message of opcode %d", op)
			}
			if len(data) > maxMessage {
				t.Errorf("handed %d bytes, limit %d", len(data), maxMessage)
			}
		}
		done := make(chan protocol.CloseCode, 1)
		go func() { done <- c.readLoop(nil) }()
		select {
		case code := <-done:
			c.raw.closeNow()
			switch {
			case code == protocol.CloseAbnormal, code == protocol.CloseProtocolError, code == protocol.CloseMessageTooBig:
			case code >= 1000 && code < 5000: // the peer's own close code
			default:
				t.Errorf("reading ended with code %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading did not end after the input did")
		}
	})
}
