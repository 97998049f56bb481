package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/protocol"
)

// What one command POST may carry: the server's default
// limits.max_message_size and limits.max_frame_commands.
const (
	maxPostBytes    = 64 << 10
	maxPostCommands = 100
)

// errStreamEnded is a stream that ended without the server's disconnect
// push: the client takes it as 1006, a connection lost.
var errStreamEnded = errors.New("herald: the stream ended")

// httpWire is an HTTP-streaming connection (http://, https://): the
// connect command is the body of a POST to the stream endpoint, whose
// response carries the server's messages in the raw TCP framing; every
// later command is POSTed to /sse/cmd with the session the connect reply
// named. Commands keep their order: one POST is in flight at a time, and
// the commands written meanwhile go together in the next.
type httpWire struct {
	streamURL string
	cmdURL    string
	enc       protocol.Encoding
	hc        *http.Client
	header    http.Header
	timeout   time.Duration // bounds each command POST

	ctx    context.Context // the stream's and the POSTs'; closeNow cancels it
	cancel context.CancelFunc
	br     *bufio.Reader

	mu      sync.Mutex
	started bool
	session string
	token   string
	queue   [][]byte
	posting bool
}

// httpURLs returns the stream and command endpoints of an http(s) URL:
// the URL itself (path /stream when it has none) and its sibling sse/cmd.
func httpURLs(u *url.URL) (stream, cmd string) {
	s := *u
	if s.Path == "" || s.Path == "/" {
		s.Path = "/stream"
	}
	c := s
	c.RawQuery = ""
	c.Path = path.Join(path.Dir(s.Path), "sse/cmd")
	return s.String(), c.String()
}

func dialHTTP(u *url.URL, enc protocol.Encoding, opts *Options, hc *http.Client) *httpWire {
	ctx, cancel := context.WithCancel(context.Background())
	w := &httpWire{enc: enc, hc: hc, header: opts.Header, timeout: opts.DialTimeout, ctx: ctx, cancel: cancel}
	w.streamURL, w.cmdURL = httpURLs(u)
	return w
}

func (w *httpWire) contentType() string {
	if w.enc.Binary() {
		return "application/x-protobuf"
	}
	return "application/json"
}

func (w *httpWire) request(ctx context.Context, u string, b []byte) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	for k, v := range w.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", w.contentType())
	return req
}

// open POSTs the connect command and keeps the streamed response.
func (w *httpWire) open(ctx context.Context, connect []byte) error {
	// The request lives as long as the stream; ctx bounds its headers only.
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	res, err := w.hc.Do(w.request(w.ctx, w.streamURL, connect))
	if err != nil {
		return err
	}
	want := "application/x-ndjson"
	if w.enc.Binary() {
		want = "application/x-protobuf"
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if res.StatusCode != http.StatusOK || mt != want {
		res.Body.Close()
		return fmt.Errorf("herald: %s: HTTP %d %s, want 200 %s", w.streamURL, res.StatusCode, mt, want)
	}
	w.br = bufio.NewReader(res.Body)
	return nil
}

// setSession names the stream's session for the command POSTs, with the
// token they carry as Bearer (the server checks it is the session's user).
func (w *httpWire) setSession(session, token string) {
	w.mu.Lock()
	w.session, w.token = session, token
	w.mu.Unlock()
}

// setToken replaces the Bearer token after a refresh.
func (w *httpWire) setToken(token string) {
	w.mu.Lock()
	w.token = token
	w.mu.Unlock()
}

func (w *httpWire) read(ctx context.Context) ([]byte, error) {
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	b, err := readFrame(w.br, w.enc)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errStreamEnded
	}
	return b, err
}

// write sends cmd: the first one (connect) opens the stream; the others are
// queued, and the writer that finds no POST in flight posts the queue until
// it is empty. A POST that fails ends the stream, so that the connection is
// replaced and the calls waiting on it fail as disconnected: the commands
// may or may not have arrived.
func (w *httpWire) write(ctx context.Context, b []byte) error {
	w.mu.Lock()
	if !w.started {
		w.started = true
		w.mu.Unlock()
		return w.open(ctx, b)
	}
	if w.ctx.Err() != nil {
		w.mu.Unlock()
		return net.ErrClosed
	}
	if w.session == "" {
		w.mu.Unlock()
		return errors.New("herald: the server gave no session: this stream cannot send commands")
	}
	w.queue = append(w.queue, b)
	if w.posting {
		w.mu.Unlock()
		return nil
	}
	w.posting = true
	for len(w.queue) > 0 {
		body, n := w.batch()
		w.queue = w.queue[n:]
		session, token := w.session, w.token
		w.mu.Unlock()
		err := w.post(body, session, token)
		w.mu.Lock()
		if err != nil {
			w.posting = false
			w.queue = nil
			w.mu.Unlock()
			w.closeNow()
			return err
		}
	}
	w.posting = false
	w.queue = nil
	w.mu.Unlock()
	return nil
}

// batch joins the queued commands that fit in one POST; w.mu is held.
func (w *httpWire) batch() ([]byte, int) {
	var body []byte
	n := 0
	for _, b := range w.queue {
		if n > 0 && (n == maxPostCommands || len(body)+1+len(b) > maxPostBytes) {
			break
		}
		if n > 0 && !w.enc.Binary() {
			body = append(body, '\n')
		}
		body = append(body, b...)
		n++
	}
	return body, n
}

// post sends one batch, again after a 429 (the session's queue was full
// and took none of it) or a 503 marked Herald-Not-Delivered (the node
// holding the session was not reached: none of it ran). Any other failure
// leaves it unknown whether the commands ran, and the connection is
// replaced.
func (w *httpWire) post(body []byte, session, token string) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	u := w.cmdURL + "?session=" + url.QueryEscape(session)
	for {
		req := w.request(ctx, u, body)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := w.hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusOK:
			return nil
		case res.StatusCode == http.StatusTooManyRequests:
		case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Herald-Not-Delivered") == "1":
		default:
			return fmt.Errorf("herald: command POST: HTTP %d", res.StatusCode)
		}
		wait := 100 * time.Millisecond
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(min(s, 5)) * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

func (w *httpWire) close() { w.closeNow() }

// closeNow cancels the stream's request, which ends its body's reads.
func (w *httpWire) closeNow() { w.cancel() }

func (w *httpWire) closeCode(err error) (protocol.CloseCode, string, bool) {
	if errors.Is(err, errStreamEnded) {
		return protocol.CloseAbnormal, "stream ended", true
	}
	return 0, "", false
}
