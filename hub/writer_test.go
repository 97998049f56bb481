package hub_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// openHub runs an anonymous hub on a memory broker where anyone may
// publish, shut down with the test.
func openHub(t *testing.T) *hub.Hub {
	t.Helper()
	return openHubWith(t, hub.Config{Namespaces: map[string]hub.Namespace{"": {AllowPublish: hub.AccessAny}}})
}

// gate is a Transport whose first write blocks until released, so that
// messages pile up behind it, as they do behind a slow socket. blocked is
// closed when that write starts.
type gate struct {
	mu      sync.Mutex
	release chan struct{}
	blocked chan struct{}
	frames  [][]byte
	closed  chan protocol.CloseCode
}

func (g *gate) Writes() hub.Writes { return hub.Writes{Frame: g.WriteFrame} }

func (g *gate) WriteFrame(parts [][]byte) error {
	g.mu.Lock()
	first := len(g.frames) == 0
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	g.frames = append(g.frames, b)
	g.mu.Unlock()
	if first {
		close(g.blocked)
		<-g.release
	}
	return nil
}

func (g *gate) Close(code protocol.CloseCode, _ string) { g.closed <- code }

// TestWriterCoalesces: what queues while a write is in progress goes out in
// very few frames, in order, in each encoding: newline-separated JSON, or
// back-to-back length-prefixed Protobuf messages.
func TestWriterCoalesces(t *testing.T) {
	for _, enc := range []protocol.Encoding{protocol.JSON, protocol.Protobuf} {
		t.Run(enc.String(), func(t *testing.T) { testWriterCoalesces(t, enc) })
	}
}

func testWriterCoalesces(t *testing.T, enc protocol.Encoding) {
	h := openHub(t)
	g := &gate{release: make(chan struct{}), blocked: make(chan struct{}), closed: make(chan protocol.CloseCode, 1)}
	c := h.NewClient(g, enc, hub.Peer{Remote: "test"})
	frame, _ := enc.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
	frame = append(frame, enc.Separator()...)
	frame, _ = enc.AppendCommand(frame, &protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: "c"})
	// The replies are written on the reader's goroutine, which the gate
	// holds; the publications pile up meanwhile.
	handled := make(chan struct{})
	go func() { c.HandleFrame(frame); close(handled) }()
	<-g.blocked
	for i := 0; i < 100; i++ {
		if _, err := h.Publish(context.Background(), "c", []byte(`1`), ""); err != nil {
			t.Fatal(err)
		}
	}
	close(g.release)
	<-handled
	c.Disconnect(protocol.NewDisconnect(protocol.CloseNormal, "done"))
	if code := <-g.closed; code != protocol.CloseNormal {
		t.Fatalf("closed with %d", code)
	}
	c.Closed()
	g.mu.Lock()
	defer g.mu.Unlock()
	// Frame 1 is whatever the writer took first (at least the connect
	// reply); everything queued behind it must fit in very few frames.
	if len(g.frames) > 3 {
		t.Fatalf("%d frames for 102 messages and a disconnect", len(g.frames))
	}
	var msgs []*protocol.ServerMessage
	for _, f := range g.frames {
		err := enc.DecodeServerFrame(f, func(m *protocol.ServerMessage) error {
			msgs = append(msgs, m)
			return nil
		})
		if err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
	}
	if len(msgs) != 103 || msgs[0].ID != 1 || msgs[1].ID != 2 {
		t.Fatalf("%d messages, first %+v", len(msgs), msgs[0])
	}
	for i, m := range msgs[2:102] {
		if m.Type != protocol.PushMessage || string(m.Data) != "1" {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if last := msgs[102]; last.Type != protocol.PushDisconnect || last.Code != 1000 || last.Reason != "done" {
		t.Fatalf("last message %+v, want the disconnect push", last)
	}
}

// recorder is a Transport that keeps every frame, each as one message
// list, and signals each write.
type recorder struct {
	enc    protocol.Encoding
	mu     sync.Mutex
	frames [][]*protocol.ServerMessage
	wrote  chan struct{}
}

func (r *recorder) Writes() hub.Writes { return hub.Writes{Frame: r.WriteFrame} }

func (r *recorder) WriteFrame(parts [][]byte) error {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	var msgs []*protocol.ServerMessage
	if err := r.enc.DecodeServerFrame(b, func(m *protocol.ServerMessage) error {
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		return err
	}
	r.mu.Lock()
	r.frames = append(r.frames, msgs)
	r.mu.Unlock()
	r.wrote <- struct{}{}
	return nil
}

func (r *recorder) Close(protocol.CloseCode, string) {}

// TestFrameRepliesLeaveTogether: what handling one frame queues leaves in
// one write: the replies of batched commands, and a publish's reply with
// the push it causes for the publisher itself, whichever comes first.
func TestFrameRepliesLeaveTogether(t *testing.T) {
	for _, enc := range []protocol.Encoding{protocol.JSON, protocol.Protobuf} {
		t.Run(enc.String(), func(t *testing.T) {
			h := openHub(t)
			r := &recorder{enc: enc, wrote: make(chan struct{}, 100)}
			c := h.NewClient(r, enc, hub.Peer{Remote: "test"})
			defer c.Closed()
			frame := func(cmds ...*protocol.Command) []byte {
				var f []byte
				for i, cmd := range cmds {
					if i > 0 {
						f = append(f, enc.Separator()...)
					}
					f, _ = enc.AppendCommand(f, cmd)
				}
				return f
			}
			c.HandleFrame(frame(&protocol.Command{ID: 1, Type: protocol.TypeConnect},
				&protocol.Command{ID: 2, Type: protocol.TypeSubscribe, Channel: "c"}))
			<-r.wrote
			c.HandleFrame(frame(&protocol.Command{ID: 3, Type: protocol.TypePublish, Channel: "c", Data: []byte(`"hi"`)}))
			<-r.wrote
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.frames) != 2 || len(r.frames[0]) != 2 || len(r.frames[1]) != 2 {
				t.Fatalf("frames %v: want the two replies, then the publish's reply and push, each in one frame", r.frames)
			}
			types := []string{r.frames[1][0].Type, r.frames[1][1].Type}
			if r.frames[1][0].ID != 3 && r.frames[1][1].ID != 3 || !slices.Contains(types, protocol.PushMessage) {
				t.Fatalf("second frame %+v %+v", r.frames[1][0], r.frames[1][1])
			}
		})
	}
}

// closingPeer is a Transport whose peer is closing: every write reports
// ErrTransportClosed, and Close must not be called.
type closingPeer struct {
	closes chan protocol.CloseCode
}

func (p *closingPeer) Writes() hub.Writes                      { return hub.Writes{Frame: p.WriteFrame} }
func (p *closingPeer) WriteFrame([][]byte) error               { return hub.ErrTransportClosed }
func (p *closingPeer) Close(code protocol.CloseCode, _ string) { p.closes <- code }

// codeObserver records the close codes the hub reports.
type codeObserver struct {
	hub.NopObserver
	codes chan protocol.CloseCode
}

func (o *codeObserver) ConnectionClosed(code protocol.CloseCode) { o.codes <- code }

// TestWriteRacingPeerClose: a push written while the peer's close frame is
// being handled is dropped without the server choosing a close code, so
// the connection is recorded with the peer's code (it was recorded as 1001
// "write failed" when the write won the race).
func TestWriteRacingPeerClose(t *testing.T) {
	obs := &codeObserver{codes: make(chan protocol.CloseCode, 1)}
	b := memory.New(memory.Options{})
	h := hub.New(hub.Config{Anonymous: true, Observer: obs}, b, nil)
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Shutdown(context.Background()); b.Close() })
	p := &closingPeer{closes: make(chan protocol.CloseCode, 1)}
	c := h.NewClient(p, protocol.JSON, hub.Peer{Remote: "test"})
	frame, _ := protocol.JSON.AppendCommand(nil, &protocol.Command{ID: 1, Type: protocol.TypeConnect})
	c.HandleFrame(frame) // its reply meets the closed transport
	c.PeerClosed(protocol.CloseNormal)
	c.Closed()
	if code := <-obs.codes; code != protocol.CloseNormal {
		t.Fatalf("recorded close code %d, want the peer's 1000", code)
	}
	select {
	case code := <-p.closes:
		t.Fatalf("the server closed a connection the peer was closing, with %d", code)
	default:
	}
}
