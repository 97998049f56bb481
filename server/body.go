package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// How a request body is kept from holding a connection.
//
// net/http reads a request's headers under ReadHeaderTimeout, then leaves
// the body to the handler with no deadline at all; and when a handler
// answers without reading the body (a 401, a 404), it reads the rest
// itself, up to 256 KiB, before or after writing the answer, to reuse the
// connection. A client that declares a body and sends a byte of it now and
// then holds the connection, its descriptor and goroutine, for as long as
// it likes. So for a request with a body:
//
//   - the body must arrive within RequestBodyTimeout of the handler's
//     start: a read deadline on the connection, lifted when the body ends
//     (net/http then watches the idle connection for the client going
//     away, and a deadline would cancel the request's context);
//   - a response written while the body is unread says Connection: close,
//     and once the handler returns, the read deadline moves to now, so
//     net/http gives up on the rest at once and closes the connection
//     (after a 500 ms grace for the client to read the answer, except on
//     a connection admitted past MaxHTTPConnections, whose descriptor is
//     wanted back at once) instead of waiting for it.
//
// http.Server.ReadTimeout would bound the body too, but it runs from the
// request's first byte for the whole request, cancels the context of any
// handler still running when it passes, and stays on hijacked
// connections.

// guardedBody is a request body that records whether it was read to its
// end.
type guardedBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	eof bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.eof {
		b.eof = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// guardedWriter closes the connection after its response when the request
// body was not read to its end (unread, too large, too slow).
type guardedWriter struct {
	http.ResponseWriter
	body     *guardedBody
	wrote    bool
	hijacked bool
}

// started is called before anything of the response is written.
func (w *guardedWriter) started() {
	if w.wrote {
		return
	}
	w.wrote = true
	if !w.body.eof {
		w.Header().Set("Connection", "close")
	}
}

func (w *guardedWriter) WriteHeader(code int) {
	w.started()
	w.ResponseWriter.WriteHeader(code)
}

func (w *guardedWriter) Write(b []byte) (int, error) {
	w.started()
	return w.ResponseWriter.Write(b)
}

// Flush lets handlers that stream flush through the guard.
func (w *guardedWriter) Flush() {
	w.started()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over (a WebSocket upgrade): the guard then
// leaves its deadline alone.
func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// guardBody bounds the time r's body may take. It returns the writer and
// request to serve r with, and the function to call once the handler has
// returned (nil for a request without a body, which is left as it is).
func (s *Server) guardBody(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return w, r, nil
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(s.cfg.RequestBodyTimeout)); errors.Is(err, http.ErrNotSupported) {
		// Served by something other than net/http's server: nothing to
		// bound here.
		return w, r, nil
	}
	body := &guardedBody{ReadCloser: r.Body, rc: rc}
	gw := &guardedWriter{ResponseWriter: w, body: body}
	// A shallow copy: net/http goes on seeing its own request and body.
	r = r.WithContext(r.Context())
	r.Body = body
	return gw, r, func() {
		if !body.eof && !gw.hijacked {
			_ = rc.SetReadDeadline(time.Now())
			// Past MaxHTTPConnections, the descriptor matters more than
			// the grace.
			if !onProbation(r) {
				closeAfterReply(w)
			}
		}
	}
}

// closeAfterReply has net/http close w's connection after the response as
// it closes one whose body ran past http.MaxBytesReader's limit, which is
// what reading one byte through a zero limit does: it shuts the write side
// first and the socket a moment later, so that a client still sending its
// body reads the answer before the close resets the connection. w must be
// the writer net/http handed over, or this does nothing.
func closeAfterReply(w http.ResponseWriter) {
	_, _ = http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(make([]byte, 1))
}
