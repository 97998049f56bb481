package server_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/heraldhq/herald/internal/browsertest"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// These tests speak permessage-deflate with two client implementations
// that share no code with the server's compression (klauspost's flate):
// a raw client built on gobwas/ws's framing and the standard library's
// compress/flate, which controls every bit of every frame, and
// coder/websocket in both of its compression modes.

// rawClient is a WebSocket client whose frames are written and read by
// hand.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	// Extension is the server's Sec-WebSocket-Extensions answer.
	Extension string
}

// dialRaw opens url ("host:port/path") offering the extensions in offer
// (one header line each; none for no offer).
func dialRaw(t testing.TB, addr, path string, offer ...string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, o := range offer {
		req += "Sec-WebSocket-Extensions: " + o + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if exts := resp.Header.Values("Sec-WebSocket-Extensions"); len(exts) > 1 {
		t.Fatalf("several extension answers: %q", exts)
	}
	return &rawClient{t: t, conn: conn, br: br, Extension: resp.Header.Get("Sec-WebSocket-Extensions")}
}

// frame writes one masked frame.
func (c *rawClient) frame(fin bool, rsv byte, op ws.OpCode, payload []byte) {
	c.t.Helper()
	h := ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	p := append([]byte(nil), payload...)
	ws.Cipher(p, h.Mask, 0)
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, h); err != nil {
		c.t.Fatal(err)
	}
	b.Write(p)
	if _, err := c.conn.Write(b.Bytes()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes msg as one message of type op, compressed with the standard
// library at level when compress is set, split
// into frames of at most frag payload bytes (0: one frame).
func (c *rawClient) send(op ws.OpCode, msg []byte, compress bool, level, frag int) {
	c.t.Helper()
	payload, rsv := msg, byte(0)
	if compress {
		payload, rsv = deflateStd(c.t, msg, level), ws.Rsv(true, false, false)
	}
	if frag <= 0 || frag >= len(payload) {
		c.frame(true, rsv, op, payload)
		return
	}
	for first := true; ; first = false {
		n := min(frag, len(payload))
		fop, frsv := ws.OpContinuation, byte(0) // RSV1 on the first frame only
		if first {
			fop, frsv = op, rsv
		}
		c.frame(n == len(payload), frsv, fop, payload[:n])
		payload = payload[n:]
		if len(payload) == 0 {
			return
		}
	}
}

// read reads one server message, unfragmented as the server sends them,
// and reports whether it was compressed; a close frame's code comes back
// as a CloseError.
func (c *rawClient) read() (op ws.OpCode, msg []byte, compressed bool, err error) {
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return 0, nil, false, err
	}
	if h.Length > 16<<20 {
		return 0, nil, false, fmt.Errorf("frame of %d bytes", h.Length)
	}
	f := ws.Frame{Header: h, Payload: make([]byte, h.Length)}
	if _, err := io.ReadFull(c.br, f.Payload); err != nil {
		return 0, nil, false, err
	}
	if f.Header.OpCode == ws.OpClose {
		code, reason := ws.ParseCloseFrameData(f.Payload)
		return ws.OpClose, nil, false, closeError{int(code), reason}
	}
	if !f.Header.Fin {
		return 0, nil, false, fmt.Errorf("server sent a fragment")
	}
	if f.Header.Rsv&^ws.Rsv(true, false, false) != 0 {
		return 0, nil, false, fmt.Errorf("server set RSV2/3")
	}
	if f.Header.Rsv != 0 {
		msg, err = inflateStd(f.Payload)
		return f.Header.OpCode, msg, true, err
	}
	return f.Header.OpCode, f.Payload, false, nil
}

// expectClose reads until the server's close frame and checks its code.
func (c *rawClient) expectClose(code int) {
	c.t.Helper()
	for {
		_, _, _, err := c.read()
		if err == nil {
			continue
		}
		if ce, ok := err.(closeError); ok {
			if ce.code != code {
				c.t.Fatalf("closed with %d %q, want %d", ce.code, ce.reason, code)
			}
			return
		}
		c.t.Fatalf("no close frame (want %d): %v", code, err)
	}
}

type closeError struct {
	code   int
	reason string
}

func (e closeError) Error() string { return fmt.Sprintf("close %d %q", e.code, e.reason) }

// deflateStd compresses msg as a permessage-deflate payload with the
// standard library: a sync flush, its tail removed.
func deflateStd(t testing.TB, msg []byte, level int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("no sync flush tail")
	}
	return out[:len(out)-4]
}

// inflateStd inflates a permessage-deflate payload with the standard
// library.
func inflateStd(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	return io.ReadAll(r)
}

// jsonish returns n bytes of compressible, valid UTF-8 text.
func jsonish(n int) []byte {
	s := strings.Repeat(`{"user":"ada","text":"hello, héllo","n":12345}`, n/40+1)
	b := []byte(s)
	// A rune must not be cut: pad with ASCII to exactly n.
	for len(b) > n {
		b = b[:len(b)-1]
	}
	for !isUTF8(b) {
		b[len(b)-1] = 'x'
	}
	return b
}

func isUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

const fullOffer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// TestDeflateEcho is what Autobahn's category 12 checks: /echo returns
// compressed messages of many sizes, text and binary, sent whole or in
// fragments of many sizes, compressed at several levels; and its answers
// are compressed (RSV1 on their one frame) when they are at least the
// threshold and compression shrinks them.
func TestDeflateEcho(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true, Compression: true, CompressionThreshold: 64}})
	// Autobahn's and Chromium's default offer: the client keeps its
	// context unless told otherwise, which the server does.
	c := dialRaw(t, s.Addr(), "/echo", "permessage-deflate; client_max_window_bits")
	if c.Extension != fullOffer {
		t.Fatalf("answer %q, want %q", c.Extension, fullOffer)
	}
	random := make([]byte, 8000)
	rand.Read(random)
	// Up to 60000: stored (level 0) adds to a message near the 65536-byte
	// limit, which counts the bytes on the wire.
	for _, size := range []int{0, 1, 16, 63, 64, 125, 126, 1000, 4096, 16384, 60000} {
		for _, frag := range []int{0, 1, 64, 1000, 4096} {
			for _, level := range []int{flate.BestSpeed, flate.BestCompression, flate.HuffmanOnly, flate.NoCompression} {
				if frag == 1 && size > 1000 {
					continue // a frame a byte: slow and adds nothing past this size
				}
				msg := jsonish(size)
				c.send(ws.OpText, msg, true, level, frag)
				op, got, compressed, err := c.read()
				if err != nil || op != ws.OpText || !bytes.Equal(got, msg) {
					t.Fatalf("size %d frag %d level %d: %v op %v, got %d bytes", size, frag, level, err, op, len(got))
				}
				// Below the threshold never; from a size where this text
				// surely shrinks, always.
				if size < 64 && compressed || size >= 1000 && !compressed {
					t.Fatalf("size %d: echo compressed %v", size, compressed)
				}
			}
		}
		// Binary, and data that does not compress: it goes back as it is.
		msg := random[:min(size, len(random))]
		c.send(ws.OpBinary, msg, true, flate.BestSpeed, 1000)
		op, got, compressed, err := c.read()
		if err != nil || op != ws.OpBinary || !bytes.Equal(got, msg) {
			t.Fatalf("binary size %d: %v op %v", len(msg), err, op)
		}
		if compressed && len(msg) > 100 {
			t.Fatalf("binary size %d: random bytes came back compressed", len(msg))
		}
		// Uncompressed messages still work on a compressed connection.
		c.send(ws.OpText, jsonish(size), false, 0, 1000)
		if _, got, _, err := c.read(); err != nil || !bytes.Equal(got, jsonish(size)) {
			t.Fatalf("uncompressed size %d: %v", size, err)
		}
	}
	// Control frames between the fragments of a compressed message.
	msg := jsonish(3000)
	p := deflateStd(t, msg, flate.BestSpeed)
	c.frame(false, ws.Rsv(true, false, false), ws.OpText, p[:10])
	c.frame(true, 0, ws.OpPing, []byte("ping"))
	c.frame(true, 0, ws.OpContinuation, p[10:])
	if op, got, _, err := c.read(); err != nil || op != ws.OpPong || string(got) != "ping" {
		t.Fatalf("pong: %v %v %q", err, op, got)
	}
	if _, got, _, err := c.read(); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("message around a ping: %v", err)
	}
}

// TestDeflateNegotiation is what Autobahn's category 13 checks: the
// parameter combinations a client may offer, each answered with no context
// takeover on both sides and the window the client asked of the server,
// then messages larger than that window echoed; and offers the server
// cannot honour declined, not refused.
func TestDeflateNegotiation(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true, Compression: true, CompressionThreshold: -1}})
	cases := []struct {
		offer []string
		want  string // "" for declined
	}{
		{[]string{"permessage-deflate"}, fullOffer},
		{[]string{"permessage-deflate; client_no_context_takeover"}, fullOffer},
		{[]string{"permessage-deflate; server_no_context_takeover"}, fullOffer},
		{[]string{fullOffer}, fullOffer},
		{[]string{"permessage-deflate; client_max_window_bits"}, fullOffer},
		{[]string{"permessage-deflate; client_max_window_bits=9"}, fullOffer},
		{[]string{"permessage-deflate; client_max_window_bits=15; server_no_context_takeover"}, fullOffer},
		{[]string{"permessage-deflate; server_max_window_bits=15"}, fullOffer},
		{[]string{`permessage-deflate; server_max_window_bits="10"`}, fullOffer + "; server_max_window_bits=10"},
		// Several offers: the first acceptable one.
		{[]string{"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=12"}, fullOffer + "; server_max_window_bits=12"},
		{[]string{"x-webkit-deflate-frame", "permessage-deflate; foo", "permessage-deflate"}, fullOffer},
		// Declined: what the server cannot honour or does not understand.
		{[]string{"permessage-deflate; server_max_window_bits"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=7"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=16"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=ten"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=99"}, ""},
		{[]string{"permessage-deflate; client_no_context_takeover=1"}, ""},
		{[]string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, ""},
		{[]string{"permessage-deflate; unknown_param"}, ""},
		{[]string{`permessage-deflate; ;;="`}, ""},
		{[]string{"x-webkit-deflate-frame"}, ""},
	}
	for bits := 8; bits <= 14; bits++ {
		for _, nct := range []string{"", "; server_no_context_takeover", "; client_no_context_takeover"} {
			cases = append(cases, struct {
				offer []string
				want  string
			}{[]string{fmt.Sprintf("permessage-deflate; server_max_window_bits=%d%s", bits, nct)}, fmt.Sprintf("%s; server_max_window_bits=%d", fullOffer, bits)})
		}
	}
	for _, tc := range cases {
		c := dialRaw(t, s.Addr(), "/echo", tc.offer...)
		if c.Extension != tc.want {
			t.Fatalf("offer %q: answer %q, want %q", tc.offer, c.Extension, tc.want)
		}
		for _, size := range []int{0, 100, 300, 1500, 5000, 40000} {
			msg := jsonish(size)
			c.send(ws.OpText, msg, tc.want != "", flate.BestCompression, 0)
			_, got, compressed, err := c.read()
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("offer %q size %d: %v", tc.offer, size, err)
			}
			if compressed && tc.want == "" {
				t.Fatalf("offer %q declined, but the echo came compressed", tc.offer)
			}
		}
		c.conn.Close()
	}
	// Off in the configuration: no offer is answered.
	off := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true}})
	if c := dialRaw(t, off.Addr(), "/echo", "permessage-deflate"); c.Extension != "" {
		t.Fatalf("compression off, answer %q", c.Extension)
	}
}

// TestDeflateBadInput: what breaks permessage-deflate fails the one
// connection with the right code, and another connection goes on.
func TestDeflateBadInput(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true, Compression: true, MaxMessageSize: 65536}})
	bomb := deflateStd(t, make([]byte, 10<<20), flate.BestCompression) // 10 MiB of zeros
	if len(bomb) > 65536 {
		t.Fatalf("bomb is %d bytes, meant to fit in one message", len(bomb))
	}
	cases := []struct {
		name  string
		offer bool
		send  func(c *rawClient)
		code  int
	}{
		{"bomb", true, func(c *rawClient) { c.frame(true, ws.Rsv(true, false, false), ws.OpText, bomb) }, 1009},
		{"bomb in fragments", true, func(c *rawClient) { c.send(ws.OpBinary, make([]byte, 1<<20), true, flate.BestSpeed, 100) }, 1009},
		{"just past the limit", true, func(c *rawClient) { c.send(ws.OpBinary, make([]byte, 65537), true, flate.BestSpeed, 0) }, 1009},
		{"invalid deflate", true, func(c *rawClient) { c.frame(true, ws.Rsv(true, false, false), ws.OpText, []byte{0xff, 0xff, 0xff}) }, 1007},
		{"truncated deflate", true, func(c *rawClient) {
			p := deflateStd(t, jsonish(5000), flate.BestSpeed)
			c.frame(true, ws.Rsv(true, false, false), ws.OpText, p[:len(p)/2])
		}, 1007},
		{"invalid UTF-8 inside", true, func(c *rawClient) { c.send(ws.OpText, []byte("ok \xff\xfe"), true, flate.BestSpeed, 0) }, 1007},
		{"RSV1 on a ping", true, func(c *rawClient) { c.frame(true, ws.Rsv(true, false, false), ws.OpPing, nil) }, 1002},
		{"RSV1 on a close", true, func(c *rawClient) {
			c.frame(true, ws.Rsv(true, false, false), ws.OpClose, ws.NewCloseFrameBody(1000, ""))
		}, 1002},
		{"RSV1 on a continuation", true, func(c *rawClient) {
			p := deflateStd(t, jsonish(500), flate.BestSpeed)
			c.frame(false, ws.Rsv(true, false, false), ws.OpText, p[:5])
			c.frame(true, ws.Rsv(true, false, false), ws.OpContinuation, p[5:])
		}, 1002},
		{"RSV2 with compression", true, func(c *rawClient) { c.frame(true, ws.Rsv(false, true, false), ws.OpText, []byte("x")) }, 1002},
		{"RSV3 on a ping with compression", true, func(c *rawClient) { c.frame(true, ws.Rsv(false, false, true), ws.OpPing, nil) }, 1002},
		{"RSV1 not negotiated", false, func(c *rawClient) {
			c.frame(true, ws.Rsv(true, false, false), ws.OpText, deflateStd(t, []byte("hello"), flate.BestSpeed))
		}, 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var offer []string
			if tc.offer {
				offer = []string{"permessage-deflate"}
			}
			good := dialRaw(t, s.Addr(), "/echo", "permessage-deflate")
			bad := dialRaw(t, s.Addr(), "/echo", offer...)
			if (bad.Extension != "") != tc.offer {
				t.Fatalf("answer %q", bad.Extension)
			}
			tc.send(bad)
			bad.expectClose(tc.code)
			msg := jsonish(3000)
			good.send(ws.OpText, msg, true, flate.BestSpeed, 0)
			if _, got, _, err := good.read(); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("the other connection: %v", err)
			}
		})
	}
}

// TestDeflateCoder: coder/websocket, in both its modes, echoes through
// /echo and publishes and receives through /ws with compression on, and
// the publication is compressed for every subscriber that negotiated it
// while the one that did not gets it plain.
func TestDeflateCoder(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{EchoEndpoint: true, Compression: true}})
	for _, mode := range []websocket.CompressionMode{websocket.CompressionContextTakeover, websocket.CompressionNoContextTakeover} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			conn, resp, err := websocket.Dial(t.Context(), echoURL(s), &websocket.DialOptions{CompressionMode: mode, CompressionThreshold: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != fullOffer {
				t.Fatalf("answer %q", got)
			}
			conn.SetReadLimit(1 << 20)
			for _, size := range []int{1, 200, 300, 5000, 65536} {
				msg := jsonish(size)
				for range 3 { // the client's context, if it kept one, would show on a repeat
					if err := conn.Write(t.Context(), websocket.MessageText, msg); err != nil {
						t.Fatal(err)
					}
					if _, got, err := conn.Read(t.Context()); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("size %d: %v", size, err)
					}
				}
			}

			opts := &websocket.DialOptions{CompressionMode: mode}
			var subs []*ht.Client
			for i := range 3 {
				c := ht.Dial(t, s.WSURL, opts)
				c.Call(map[string]any{"type": "connect", "token": ht.Token(t, fmt.Sprint("u", i), nil)})
				c.Call(map[string]any{"type": "subscribe", "channel": "chat:z"})
				subs = append(subs, c)
			}
			raw := dialRaw(t, s.Addr(), "/ws", "permessage-deflate")
			rawSub(t, raw, ht.Token(t, "raw", nil), "chat:z")
			plain := dialRaw(t, s.Addr(), "/ws")
			rawSub(t, plain, ht.Token(t, "plain", nil), "chat:z")
			doc := string(jsonish(4000))
			pub := subs[0].Call(map[string]any{"type": "publish", "channel": "chat:z", "data": map[string]any{"doc": doc, "mode": fmt.Sprint(mode)}})
			if pub.ErrorCode() != 0 {
				t.Fatalf("publish: %v", pub)
			}
			for _, c := range subs {
				m := c.Messages("chat:z", 1)[0]
				if d, _ := m["data"].(map[string]any); d["doc"] != doc {
					t.Fatalf("subscriber got %v", m["data"])
				}
			}
			for _, c := range []*rawClient{raw, plain} {
				var m struct {
					Type string
					Data struct{ Doc string }
				}
				var got []byte
				var compressed bool
				var err error
				for m.Type != "message" && err == nil { // past the join pushes
					_, got, compressed, err = c.read()
					err = errors.Join(err, json.Unmarshal(got, &m))
				}
				if err != nil || m.Data.Doc != doc {
					t.Fatalf("raw subscriber: %v, got %.100q", err, got)
				}
				if compressed != (c == raw) {
					t.Fatalf("publication compressed %v for a subscriber with extension %q", compressed, c.Extension)
				}
			}
		})
	}
}

// rawSub connects c with token and subscribes it to channel, reading the
// replies.
func rawSub(t testing.TB, c *rawClient, token, channel string) {
	t.Helper()
	c.send(ws.OpText, []byte(`{"id":1,"type":"connect","token":"`+token+`"}`), false, 0, 0)
	c.send(ws.OpText, []byte(`{"id":2,"type":"subscribe","channel":"`+channel+`"}`), false, 0, 0)
	var got string
	for !strings.Contains(got, `"id":2`) {
		_, m, _, err := c.read()
		if err != nil {
			t.Fatalf("connect and subscribe: %v", err)
		}
		got += string(m)
	}
}

// TestBrowserDeflate: Chromium negotiates permessage-deflate on /ws and
// /echo, publishes a document larger than the threshold and receives it,
// and has messages echoed.
func TestBrowserDeflate(t *testing.T) {
	browsertest.Require(t)
	s := ht.Start(t, ht.Options{Server: server.Config{
		EchoEndpoint: true, Compression: true, AllowedOrigins: []string{"*"},
		Pages: map[string]http.Handler{"GET /page": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("<!doctype html><title>deflate</title>"))
		})},
	}})
	browsertest.Run(t, "testdata/deflate.cjs", time.Minute,
		"PAGE_URL=http://"+s.Addr()+"/page", "WS_URL="+s.WSURL, "ECHO_URL="+echoURL(s), "TOKEN="+ht.Token(t, "browser", nil))
}
