package server_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// How connections are read (reader.go): a plain socket is read in bursts
// started when bytes arrive; these tests cover what crosses a burst's
// edge.

// rawConnected returns a raw connection past its connect reply.
func rawConnected(t *testing.T, s *ht.Server) *ht.RawConn {
	t.Helper()
	c := ht.DialRaw(t, s.Addr(), "/ws", nil)
	c.WriteText([]byte(`{"id":1,"type":"connect"}`))
	expectReply(t, c, `"id":1,`)
	return c
}

// expectReply reads text frames until one contains want.
func expectReply(t *testing.T, c *ht.RawConn, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if f.Opcode == 1 && strings.Contains(string(f.Payload), want) {
			return string(f.Payload)
		}
		if f.Opcode == 8 {
			t.Fatalf("waiting for %s: closed with %d", want, f.CloseCode())
		}
	}
}

// maskedFrame is one client frame: first byte (FIN and opcode), a short
// payload, masked.
func maskedFrame(first byte, payload string) []byte {
	mask := [4]byte{9, 8, 7, 6}
	b := []byte{first, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i := range len(payload) {
		b = append(b, payload[i]^mask[i%4])
	}
	return b
}

// TestMessageSplitAcrossPackets: a frame whose header and payload arrive in
// separate packets, with pauses between them, is still read whole.
func TestMessageSplitAcrossPackets(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true}})
	c := rawConnected(t, s)
	frame := maskedFrame(0x81, `{"id":2,"type":"presence_stats","channel":"chat:split"}`)
	for _, part := range [][]byte{frame[:1], frame[1:4], frame[4:20], frame[20:]} {
		c.WriteBytes(part)
		time.Sleep(30 * time.Millisecond) // a pause on purpose: each part arrives as its own packet
	}
	expectReply(t, c, `"id":2,`)
}

// TestFragmentsWithPingBetween: a message in two fragments sent apart, with
// a ping between them, gets its pong at once and its reply after the last
// fragment.
func TestFragmentsWithPingBetween(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true}})
	c := rawConnected(t, s)
	cmd := `{"id":3,"type":"presence_stats","channel":"chat:frag"}`
	c.WriteBytes(maskedFrame(0x01, cmd[:10]))
	c.WriteBytes(maskedFrame(0x89, "are you there"))
	f, err := c.ReadFrame(5 * time.Second)
	if err != nil || f.Opcode != 0xA || string(f.Payload) != "are you there" {
		t.Fatalf("pong: %+v %v", f, err)
	}
	time.Sleep(30 * time.Millisecond) // a pause on purpose: the last fragment arrives apart
	c.WriteBytes(maskedFrame(0x80, cmd[10:]))
	expectReply(t, c, `"id":3,`)
}

// TestPipelinedMessages: messages that arrive together in one packet are
// all handled, in order.
func TestPipelinedMessages(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true}})
	c := rawConnected(t, s)
	var packet []byte
	for id := 10; id < 20; id++ {
		packet = append(packet, maskedFrame(0x81, `{"id":`+strconv.Itoa(id)+`,"type":"presence_stats","channel":"chat:p"}`)...)
	}
	c.WriteBytes(packet)
	for id := 10; id < 20; id++ {
		expectReply(t, c, `"id":`+strconv.Itoa(id)+`,`)
	}
}

// TestCloseFrames: the close handshake as the client starts it, and close
// frames RFC 6455 says to refuse with 1002.
func TestCloseFrames(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true}})
	code := func(c uint16, reason string) string {
		return string(binary.BigEndian.AppendUint16(nil, c)) + reason
	}
	for _, tc := range []struct {
		name    string
		payload string
		want    int
	}{
		{"normal", code(1000, "bye"), 1000},
		{"going away", code(1001, ""), 1001},
		{"application code", code(4321, "app"), 4321},
		{"no code", "", 0}, // an empty close frame is echoed empty
		{"one byte body", "x", 1002},
		{"reserved code 1005", code(1005, ""), 1002},
		{"code below 1000", code(999, ""), 1002},
		{"code past 4999", code(5000, ""), 1002},
		{"unassigned protocol code", code(2000, ""), 1002},
		{"reason not UTF-8", code(1000, "\xff"), 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConnected(t, s)
			c.WriteBytes(maskedFrame(0x88, tc.payload))
			f, err := c.ReadFrame(5 * time.Second)
			for err == nil && f.Opcode != 8 {
				f, err = c.ReadFrame(5 * time.Second)
			}
			if err != nil {
				t.Fatalf("no close frame: %v", err)
			}
			if got := f.CloseCode(); got != tc.want {
				t.Fatalf("close code %d, want %d", got, tc.want)
			}
		})
	}
	// The server still serves.
	rawConnected(t, s)
}

// TestIdleConnectionsWaitShallow: an idle connection waits in the event
// loop with no goroutine (on Linux, once quiet) or in a waiter parked in
// the readiness wait, however deep the work its earlier messages took (a
// connect, a subscribe); no goroutine stays parked in frame reading, where
// the stack grown by that work would be kept (4 KiB per connection,
// measured, where the waiter needs the minimum).
func TestIdleConnectionsWaitShallow(t *testing.T) {
	const conns = 50
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true}})
	for i := range conns {
		c := rawConnected(t, s)
		c.WriteText([]byte(`{"id":2,"type":"subscribe","channel":"chat:idle` + strconv.Itoa(i) + `"}`))
		expectReply(t, c, `"id":2,`)
	}
	wait.For(t, 5*time.Second, func() error { return readersParked(s, conns) })
}

// readersParked returns nil when want connections wait for bytes (in the
// event loop, or in waiter goroutines: a connection whose last two
// messages came close together keeps a waiter) and none is reading frames,
// or what it found instead.
func readersParked(s *ht.Server, want int) error {
	var waiting, reading int
	buf := make([]byte, 1<<22)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		switch {
		case strings.Contains(g, "server.(*wsConn).wait(") && strings.Contains(g, "(*rawConn).Read"):
			waiting++
		case strings.Contains(g, "server.(*wsConn).burst("), strings.Contains(g, "server.(*wsConn).readMessage("):
			reading++
		}
	}
	if inLoop := s.Server.IdleInEventLoop(); waiting+inLoop != want || reading != 0 {
		return fmt.Errorf("%d connections in waiter goroutines, %d in the event loop, %d reading frames; want %d waiting and 0 reading",
			waiting, inLoop, reading, want)
	}
	return nil
}

// closeRecorder is a hub observer that reports every connection's close
// code.
type closeRecorder struct {
	hub.NopObserver
	codes chan protocol.CloseCode
}

func (r closeRecorder) ConnectionClosed(code protocol.CloseCode) { r.codes <- code }

// TestPeerGoneWhileWaiting: a peer that goes away while its connection
// waits for bytes (the waiter's own read meets the end of file or the
// reset) ends the connection at once, recorded as 1006, and the server
// goes on serving.
func TestPeerGoneWhileWaiting(t *testing.T) {
	rec := closeRecorder{codes: make(chan protocol.CloseCode, 16)}
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true, Observer: rec}})
	for _, how := range []string{"end of file", "reset"} {
		t.Run(how, func(t *testing.T) {
			c := rawConnected(t, s)
			c.WriteText([]byte(`{"id":2,"type":"subscribe","channel":"chat:gone"}`))
			expectReply(t, c, `"id":2,`)
			wait.For(t, 5*time.Second, func() error { return readersParked(s, 1) }) // idle
			if how == "reset" {
				c.Conn.(*net.TCPConn).SetLinger(0)
			}
			c.Conn.Close()
			select {
			case code := <-rec.codes:
				if code != protocol.CloseAbnormal {
					t.Fatalf("recorded close %d, want %d", code, protocol.CloseAbnormal)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the connection did not end")
			}
		})
	}
	rawConnected(t, s)
}
