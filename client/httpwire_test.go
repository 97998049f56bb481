package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/wait"
	"github.com/heraldhq/herald/protocol"
)

// TestHTTPStreamSubscribePublish: over an http:// URL the client connects,
// subscribes, publishes, reads presence and history, and concurrent calls
// get their own replies (the POSTs keep order and merge).
func TestHTTPStreamSubscribePublish(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		c, err := client.Dial(ctx(t), s.URL+"/stream", client.Options{Encoding: enc, Token: ht.Token(t, "alice", nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		sub, err := c.Subscribe(ctx(t), "chat:a", b.opts())
		if err != nil {
			t.Fatal(err)
		}
		pos, err := c.Publish(ctx(t), "chat:a", []byte(`{"text":"hi"}`))
		if err != nil || pos.Offset != 1 {
			t.Fatalf("publish: %v %v", pos, err)
		}
		m := b.wait(t, 1, 5*time.Second)[0]
		if string(m.Data) != `{"text":"hi"}` || m.Info.User != "alice" || m.Channel != "chat:a" {
			t.Fatalf("message %+v", m)
		}
		if p, err := c.Presence(ctx(t), "chat:a"); err != nil || len(p) != 1 {
			t.Fatalf("presence %v %v", p, err)
		}
		limit := 1
		pubs, _, err := c.History(ctx(t), "chat:a", client.HistoryOptions{Limit: &limit, Reverse: true})
		if err != nil || len(pubs) != 1 || pubs[0].Offset != 1 {
			t.Fatalf("history %v %v", pubs, err)
		}
		var wg sync.WaitGroup
		offsets := make(chan uint64, 100)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 25; j++ {
					pos, err := c.Publish(ctx(t), "chat:many", []byte(`1`))
					if err != nil {
						t.Error(err)
						return
					}
					offsets <- pos.Offset
				}
			}()
		}
		wg.Wait()
		close(offsets)
		seen := map[uint64]bool{}
		for o := range offsets {
			if seen[o] {
				t.Fatalf("offset %d twice: replies crossed", o)
			}
			seen[o] = true
		}
		if len(seen) != 100 {
			t.Fatalf("%d publishes", len(seen))
		}
		if err := sub.Unsubscribe(ctx(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestHTTPStreamReconnectAfterServerRestart: the drain reaches the stream as
// a 1001 disconnect push; the client reconnects over HTTP streaming and
// recovers every publication once, in order.
func TestHTTPStreamReconnectAfterServerRestart(t *testing.T) {
	ht.EachEncoding(t, func(t *testing.T, enc protocol.Encoding) {
		s := ht.Start(t, ht.Options{})
		var codes []protocol.CloseCode
		var mu sync.Mutex
		c, err := client.Dial(ctx(t), s.URL+"/stream", client.Options{Encoding: enc,
			Token: ht.Token(t, "u", nil), Backoff: fastBackoff,
			OnState: func(sc client.StateChange) {
				if sc.State == client.StateDisconnected {
					mu.Lock()
					codes = append(codes, sc.Code)
					mu.Unlock()
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := newInbox()
		if _, err := c.Subscribe(ctx(t), "chat:restart", b.opts()); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			s.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		b.wait(t, 5, 5*time.Second)
		s2 := s.Restart(ht.Options{})
		for i := 5; i < 10; i++ {
			s2.MustAPI("publish", map[string]any{"channel": "chat:restart", "data": i})
		}
		checkSequence(t, b.wait(t, 10, 5*time.Second), 10)
		mu.Lock()
		defer mu.Unlock()
		if len(codes) == 0 || codes[0] != protocol.CloseGoingAway {
			t.Fatalf("disconnect codes %v, want 1001 first", codes)
		}
		if len(b.lost) != 0 {
			t.Fatalf("recovery reported lost: %+v", b.lost)
		}
	})
}

// TestHTTPStreamRecoveryThroughNetworkCuts cuts the network under the
// stream three times while a publisher runs: every publication arrives
// exactly once, in order.
func TestHTTPStreamRecoveryThroughNetworkCuts(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Namespaces: map[string]hub.Namespace{
		"chat": {HistorySize: 1000, HistoryTTL: time.Hour, Recover: true, AllowPublish: hub.AccessAny},
	}}})
	p := newProxy(t, s.Addr())
	c, err := client.Dial(ctx(t), "http://"+p.l.Addr().String()+"/stream", client.Options{Token: ht.Token(t, "u", nil), Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newInbox()
	if _, err := c.Subscribe(ctx(t), "chat:cut", b.opts()); err != nil {
		t.Fatal(err)
	}
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if _, err := s.Hub.Publish(context.Background(), "chat:cut", []byte(fmt.Sprint(i)), ""); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond) // a pace on purpose: the stream spans the cuts
		}
	}()
	for i := 1; i <= 3; i++ {
		wait.For(t, 10*time.Second, func() error {
			if got := b.count(); got < i*n/4 {
				return fmt.Errorf("%d of %d messages before cut %d", got, i*n/4, i)
			}
			return nil
		})
		p.Cut()
	}
	<-done
	checkSequence(t, b.wait(t, n, 10*time.Second), n)
}

// TestHTTPStreamDialRefused: a bad token is refused with 4501 in the
// stream, and the client stops at once.
func TestHTTPStreamDialRefused(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	_, err := client.Dial(ctx(t), s.URL+"/stream", client.Options{Token: "not-a-token", Backoff: fastBackoff})
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseUnauthorized {
		t.Fatalf("dial with a bad token: %v", err)
	}
}

// fakeStream is a server for the bad-input tests: /stream answers the
// connect, then does what script says for the n-th stream (0-based).
type fakeStream struct {
	*httptest.Server
	streams atomic.Int64
	posts   atomic.Int64
}

func newFakeStream(t *testing.T, script func(n int, w http.ResponseWriter, r *http.Request, connect string)) *fakeStream {
	f := &fakeStream{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/stream":
			n := int(f.streams.Add(1) - 1)
			script(n, w, r, string(body))
		case "/sse/cmd":
			f.posts.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(func() {
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

// TestHTTPStreamEndsWithoutDisconnect: a stream that ends without a
// disconnect push is 1006, and the client reconnects.
func TestHTTPStreamEndsWithoutDisconnect(t *testing.T) {
	f := newFakeStream(t, func(n int, w http.ResponseWriter, _ *http.Request, _ string) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintf(w, `{"id":1,"result":{"client":"c%d","user":"","ping":25,"session":"s"}}`+"\n", n)
		// The handler returns: the response ends, without a disconnect push.
	})
	states := make(chan client.StateChange, 100)
	c, err := client.Dial(ctx(t), f.URL+"/stream", client.Options{Backoff: fastBackoff,
		OnState: func(sc client.StateChange) { states <- sc }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wait.For(t, 5*time.Second, func() error {
		if f.streams.Load() < 3 {
			return fmt.Errorf("%d streams", f.streams.Load())
		}
		return nil
	})
	for sc := range states {
		if sc.State == client.StateDisconnected {
			if sc.Code != protocol.CloseAbnormal {
				t.Fatalf("a stream ended without a disconnect push: %+v, want 1006", sc)
			}
			break
		}
	}
}

// TestHTTPStreamBadResponses: a response that is not a stream (an error
// status, a proxy's page with 200) fails the dial, which is retried; a
// stream of garbage is a bad message and the connection is replaced.
func TestHTTPStreamBadResponses(t *testing.T) {
	f := newFakeStream(t, func(n int, w http.ResponseWriter, r *http.Request, connect string) {
		switch n {
		case 0:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 1:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>login here</html>\n")
		case 2:
			w.Header().Set("Content-Type", "application/x-ndjson")
			fmt.Fprint(w, "not json\n")
		default:
			if !strings.Contains(connect, `"type":"connect"`) {
				http.Error(w, "no connect", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/x-ndjson")
			fmt.Fprint(w, `{"id":1,"result":{"client":"c","user":"","ping":25,"session":"s"}}`+"\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // until the client closes
		}
	})
	var mu sync.Mutex
	var errs []string
	c, err := client.Dial(ctx(t), f.URL+"/stream", client.Options{Backoff: fastBackoff, OnState: func(sc client.StateChange) {
		if sc.Err != nil {
			mu.Lock()
			errs = append(errs, sc.Err.Error())
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := f.streams.Load(); got != 4 {
		t.Fatalf("%d stream requests, want 4", got)
	}
	mu.Lock()
	defer mu.Unlock()
	// The page is refused for what it is, before any of it is read.
	if len(errs) != 3 || !strings.Contains(errs[0], "HTTP 503") || !strings.Contains(errs[1], "text/html") || !strings.Contains(errs[2], "bad message") {
		t.Fatalf("dial errors %q", errs)
	}
}

// TestHTTPStreamCommandRetries: a command POST answered 503 with
// Herald-Not-Delivered (the node holding the session was not reached, so
// nothing ran) is sent again and the call succeeds; a plain 503, which
// leaves it unknown whether the commands ran, fails the call as a lost
// connection instead of risking running them twice.
func TestHTTPStreamCommandRetries(t *testing.T) {
	s := ht.Start(t, ht.Options{})
	var refuse atomic.Int32 // how many POSTs to refuse; -1 marks a plain 503
	var posts atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sse/cmd" {
			posts.Add(1)
			switch n := refuse.Load(); {
			case n > 0:
				refuse.Add(-1)
				w.Header().Set("Herald-Not-Delivered", "1")
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			case n < 0:
				refuse.Store(0)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, s.URL+r.URL.RequestURI(), r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		req.Header = r.Header.Clone()
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		f := w.(http.Flusher)
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				f.Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	defer proxy.Close()
	c, err := client.Dial(ctx(t), proxy.URL+"/stream", client.Options{Token: ht.Token(t, "alice", nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	refuse.Store(2)
	if pos, err := c.Publish(ctx(t), "chat:a", []byte(`1`)); err != nil || pos.Offset != 1 {
		t.Fatalf("publish after two refusals: %v %v", pos, err)
	}
	if got := posts.Load(); got != 3 {
		t.Fatalf("%d POSTs, want 3 (two refused, then the one that ran)", got)
	}
	refuse.Store(-1)
	if _, err := c.Publish(ctx(t), "chat:a", []byte(`2`)); err == nil {
		t.Fatal("a publish answered with a plain 503 succeeded")
	}
}
