package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
	"github.com/klauspost/compress/flate"

	"github.com/heraldhq/herald/internal/outbound"
)

// permessage-deflate (RFC 7692), when Config.Compression turns it on.
//
// What the server agrees to, whatever the client offers: no context
// takeover in either direction. Its own side (server_no_context_takeover)
// because a publication is compressed once and the same compressed bytes
// go to every subscriber that negotiated compression, which only works if
// no message depends on what a connection was sent before; the client's
// side (client_no_context_takeover, which §7.1.1.2 lets a server include
// in its response whether or not the offer did) so that the server never
// holds a 32 KiB inflate window per connection between messages: an
// inflater is taken from a pool for one message and given back. A
// server_max_window_bits the client asks for is honoured: a message no
// longer than the window needs nothing special (no back-reference can
// reach past its start); a longer one is compressed with that window.
// client_max_window_bits needs no answer: the inflater reads any window.
//
// Messages shorter than Config.CompressionThreshold, and those that would
// not shrink, go uncompressed (RSV1 clear).

// Compression levels: a shared message is compressed once for all its
// subscribers, so it can afford a better ratio than a reply or an echo,
// compressed for one connection.
const (
	sharedLevel  = 6
	privateLevel = flate.BestSpeed
)

// maxWindowBits is the largest LZ77 window of RFC 7692, 2^15 bytes.
const maxWindowBits = 15

// errInvalidDeflate is what inflating a compressed message that is not a
// valid DEFLATE stream fails with: the connection is failed with 1007.
var errInvalidDeflate = errors.New("websocket: invalid compressed data")

// negotiateDeflate reads the permessage-deflate offers of an upgrade
// request and accepts the first one it can honour (RFC 7692 §5): it
// returns the response's extension header value and the window bits the
// server's compressor must stay within, or ok false when no offer is
// acceptable. An offer with an unknown, duplicate or malformed parameter
// is declined, not refused: the connection goes on without compression.
func negotiateDeflate(h http.Header) (response string, bits uint8, ok bool) {
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		opts, wellFormed := httphead.ParseOptions([]byte(v), nil)
		if !wellFormed {
			continue
		}
		for _, opt := range opts {
			if string(opt.Name) != wsflate.ExtensionName {
				continue
			}
			var p wsflate.Parameters
			if p.Parse(opt) != nil {
				continue
			}
			bits = maxWindowBits
			if p.ServerMaxWindowBits.Defined() {
				bits = uint8(p.ServerMaxWindowBits)
			}
			return deflateResponse(bits), bits, true
		}
	}
	return "", 0, false
}

// deflateResponse is the extension header of an accepted offer: both sides
// without context takeover, and the window bits the offer asked for.
func deflateResponse(bits uint8) string {
	r := wsflate.ExtensionName + "; server_no_context_takeover; client_no_context_takeover"
	if bits < maxWindowBits {
		r += "; server_max_window_bits=" + strconv.Itoa(int(bits))
	}
	return r
}

// deflateHeaders holds the response headers for each window bits value
// (8..15), made once, so that an upgrade copies no header map.
var deflateHeaders = func() (h [maxWindowBits + 1]http.Header) {
	for bits := uint8(8); bits <= maxWindowBits; bits++ {
		h[bits] = http.Header{"Sec-Websocket-Extensions": {deflateResponse(bits)}}
	}
	return h
}()

// compressor is a pooled DEFLATE writer of one level or window, wrapped
// by wsflate, which drops the sync flush's tail.
type compressor struct {
	zw  *wsflate.Writer
	out appendWriter
}

// appendWriter collects what the compressor writes.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// compressors are the pools of compressors: index 0 for sharedLevel, 1 for
// privateLevel, and 2+bits-8 for a window of bits below maxWindowBits.
var compressors [2 + maxWindowBits - 8]sync.Pool

// compressorPool returns the pool for a message compressed for many
// connections or one, within a window of bits.
func compressorPool(shared bool, bits uint8) (*sync.Pool, func(io.Writer) wsflate.Compressor) {
	switch {
	case bits < maxWindowBits:
		return &compressors[2+bits-8], func(w io.Writer) wsflate.Compressor {
			fw, _ := flate.NewWriterWindow(w, 1<<bits) // cannot fail: 2^8..2^14 is in range
			return fw
		}
	case shared:
		return &compressors[0], func(w io.Writer) wsflate.Compressor {
			fw, _ := flate.NewWriter(w, sharedLevel) // cannot fail: a valid level
			return fw
		}
	}
	return &compressors[1], func(w io.Writer) wsflate.Compressor {
		fw, _ := flate.NewWriter(w, privateLevel)
		return fw
	}
}

// deflateMessage appends msg compressed as one permessage-deflate message
// without context takeover to dst, within a window of bits. It reports
// false, with dst unchanged, when compressing would not make msg smaller.
func deflateMessage(dst, msg []byte, shared bool, bits uint8) ([]byte, bool) {
	if len(msg) <= 1<<bits {
		// No back-reference reaches past the start of the message: any
		// window will do, and the full one's compressor is shared.
		bits = maxWindowBits
	}
	pool, ctor := compressorPool(shared, bits)
	c, _ := pool.Get().(*compressor)
	if c == nil {
		c = &compressor{}
		c.zw = wsflate.NewWriter(&c.out, ctor)
	}
	c.out.b = dst
	c.zw.Reset(&c.out)
	_, err := c.zw.Write(msg)
	if err == nil {
		err = c.zw.Flush()
	}
	out := c.out.b
	c.out.b = nil
	pool.Put(c)
	if err != nil || len(out)-len(dst) >= len(msg) {
		// Writing to memory cannot fail; a message that does not shrink
		// goes as it is.
		return dst, false
	}
	return out, true
}

// sharedForm is the compressed payload of a shared message for a
// connection whose window is bits, made once per message and window
// (outbound.Shared.Form) and nil when it would not be smaller.
func sharedForm(m *outbound.Shared, bits uint8) []byte {
	if len(m.Bytes) <= 1<<bits {
		bits = maxWindowBits
	}
	return m.Form(int(bits-8), func(msg []byte) []byte {
		out, ok := deflateMessage(nil, msg, true, bits)
		if !ok {
			return nil
		}
		return out
	})
}

// decompressor is a pooled inflater and what it reads: a message's
// payload, then inflateTail.
type decompressor struct {
	zr  io.ReadCloser // klauspost's inflater, a flate.Resetter
	src tailReader
}

// inflateTail ends a message's payload for the inflater: the sync flush's
// tail, which the sender removed (RFC 7692 §7.2.2), then an empty final
// stored block, so that the stream ends with io.EOF. (wsflate.Reader does
// the same, but when its source is an io.ByteReader, which the inflater
// needs to read without a buffer of its own, its ReadByte returns a zero
// byte too many at the end of the payload.)
var inflateTail = []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// tailReader reads a payload, then inflateTail. It is an io.ByteReader, so
// that the inflater does not wrap it in a buffer of its own.
type tailReader struct {
	b    []byte
	tail bool // b is inflateTail's rest
}

func (r *tailReader) next() bool {
	if len(r.b) > 0 {
		return true
	}
	if r.tail {
		return false
	}
	r.b, r.tail = inflateTail, true
	return true
}

func (r *tailReader) Read(p []byte) (int, error) {
	if !r.next() {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *tailReader) ReadByte() (byte, error) {
	if !r.next() {
		return 0, io.EOF
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

var decompressors = sync.Pool{New: func() any {
	d := &decompressor{}
	d.zr = flate.NewReader(&d.src)
	return d
}}

// inflateMessage appends the message payload inflates to to dst. It
// produces at most limit bytes: past them it stops and fails with
// wsutil.ErrMessageTooLarge (1009, as for an uncompressed message), so a small frame that inflates to a great
// deal costs no more than limit bytes and the work of producing them.
// Data that is not a valid DEFLATE stream fails with errInvalidDeflate.
func inflateMessage(dst, payload []byte, limit int64) ([]byte, error) {
	d := decompressors.Get().(*decompressor)
	defer func() {
		d.src = tailReader{}
		decompressors.Put(d)
	}()
	d.src = tailReader{b: payload}
	_ = d.zr.(flate.Resetter).Reset(&d.src, nil) // cannot fail without a dictionary
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		room := cap(dst)
		if end := int64(start) + limit + 1; int64(room) > end {
			room = int(end)
		}
		n, err := d.zr.Read(dst[len(dst):room])
		dst = dst[:len(dst)+n]
		if int64(len(dst)-start) > limit {
			return dst, wsutil.ErrMessageTooLarge
		}
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst, errInvalidDeflate
		}
	}
}

// checkRsv fails a frame with a reserved bit that no extension gave a
// meaning: RSV2 and RSV3 always, RSV1 once permessage-deflate has taken
// its own (on a message's first frame) off the header.
func checkRsv(h ws.Header, _ io.Reader) error {
	if h.Rsv != 0 {
		return ws.ErrProtocolNonZeroRsv
	}
	return nil
}

// writeMessages is Writes.Messages for a connection that negotiated
// permessage-deflate: the messages of one batch leave in one write, as
// several frames. A message of at least deflateMin bytes that compression
// makes smaller is a compressed frame of its own, whose payload a shared
// message computes once for all its subscribers; the others between them
// are coalesced into uncompressed frames, as without compression.
func (c *wsConn) writeMessages(msgs []outbound.Message, try bool) (done bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.closedLocked(); err != nil {
		return false, err
	}
	f := getFrameBuffer()
	defer putFrameBuffer(f)
	c.appendMessages(f, c.dataOpCode(), msgs)
	if try {
		return c.tryWriteLocked(f.b)
	}
	if err := c.w.Flush(c.raw); err != nil {
		return false, err
	}
	c.w.MoveDeadline(c.raw)
	return true, c.writeBufLocked(f.b)
}

// writeMessageLocked writes one message of its own (an echo), compressed
// when it is worth it, with wmu held.
func (c *wsConn) writeMessageLocked(op ws.OpCode, msg []byte) error {
	if err := c.w.Flush(c.raw); err != nil {
		return err
	}
	c.w.MoveDeadline(c.raw)
	f := getFrameBuffer()
	defer putFrameBuffer(f)
	one := [1]outbound.Message{{Bytes: msg}}
	c.appendMessages(f, op, one[:])
	return c.writeBufLocked(f.b)
}

// appendMessages appends msgs to f as frames of type op: see
// writeMessages.
func (c *wsConn) appendMessages(f *frameBuffer, op ws.OpCode, msgs []outbound.Message) {
	sep := c.enc.Separator()
	run := 0 // the first message not framed yet
	for i, m := range msgs {
		if len(m.Bytes) < int(c.deflateMin) {
			continue
		}
		var payload []byte
		if m.Shared != nil {
			payload = sharedForm(m.Shared, c.deflateBits)
		} else {
			var ok bool
			if f.scratch, ok = deflateMessage(f.scratch[:0], m.Bytes, false, c.deflateBits); ok {
				payload = f.scratch
			}
		}
		if payload == nil {
			continue // not smaller: it goes uncompressed with its neighbours
		}
		appendPlain(f, op, sep, msgs[run:i])
		hdr := ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: op, Length: int64(len(payload))}
		_ = ws.WriteHeaderBuffer(f, hdr, f.header[:]) // cannot fail: appending does not
		f.b = append(f.b, payload...)
		run = i + 1
	}
	appendPlain(f, op, sep, msgs[run:])
}

// appendPlain appends msgs, when there are any, as one uncompressed frame
// of type op, separated by sep.
func appendPlain(f *frameBuffer, op ws.OpCode, sep []byte, msgs []outbound.Message) {
	if len(msgs) == 0 {
		return
	}
	n := len(sep) * (len(msgs) - 1)
	for _, m := range msgs {
		n += len(m.Bytes)
	}
	_ = ws.WriteHeaderBuffer(f, ws.Header{Fin: true, OpCode: op, Length: int64(n)}, f.header[:])
	for i, m := range msgs {
		if i > 0 {
			f.b = append(f.b, sep...)
		}
		f.b = append(f.b, m.Bytes...)
	}
}
