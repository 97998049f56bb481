package server

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/hub"
)

// Observer receives the server's measurements; package metrics implements
// it. Its methods must not block.
type Observer interface {
	// APIRequest is one server API request answered: method is one of the
	// API's method names, or "unknown" for any other path, so its values
	// stay a small fixed set.
	APIRequest(method string, status int, d time.Duration)
	// RateLimited is a request refused by a limit (hub.LimitConnectIP).
	RateLimited(limit hub.Limit)
}

// nopObserver is the default Observer.
type nopObserver struct{}

func (nopObserver) APIRequest(string, int, time.Duration) {}
func (nopObserver) RateLimited(hub.Limit)                 {}

// apiMethodLabel names a request's API method for metrics and logs: the
// method when the API has it, "unknown" otherwise (never what a caller
// made up).
func apiMethodLabel(r *http.Request) string {
	name := r.PathValue("method")
	if _, ok := apiMethods[name]; ok {
		return name
	}
	return "unknown"
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrumentAPI counts and times the server API's requests and writes the
// access log. The log has the method, status, duration and peer address:
// never the Authorization header, never a body.
func (s *Server) instrumentAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		method := apiMethodLabel(r)
		s.obs.APIRequest(method, rec.status, d)
		s.log.Info("api request", "method", method, "http_method", r.Method,
			"status", rec.status, "duration", d, "remote", r.RemoteAddr)
	})
}
