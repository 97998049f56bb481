package stream_test

import (
	"net/http"
	"testing"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// Every kind of stream connects, subscribes by POST and receives what is
// published, with the replies on the stream.
func TestStreamKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    streamOptions
	}{
		{"sse", streamOptions{kind: "sse"}},
		{"ndjson-get", streamOptions{kind: "ndjson"}},
		{"ndjson-post", streamOptions{kind: "ndjson", post: true}},
		{"proto-get", streamOptions{kind: "proto"}},
		{"proto-post", streamOptions{kind: "proto", post: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ht.Start(t, ht.Options{})
			c := openStream(t, s, map[string]any{"type": "connect", "token": ht.Token(t, "alice", nil)}, tc.o)
			if c.Session == "" || c.Result["user"] != "alice" {
				t.Fatalf("connect result %v", c.Result)
			}
			r := c.Call("", map[string]any{"type": "subscribe", "channel": "chat:a"})
			if r.ErrorCode() != 0 {
				t.Fatalf("subscribe: %v", r)
			}
			s.MustAPI("publish", map[string]any{"channel": "chat:a", "data": map[string]any{"n": 1}})
			m := c.Messages("chat:a", 1)[0]
			if m["offset"].(float64) != 1 {
				t.Fatalf("message %v", m)
			}
			r = c.Call("", map[string]any{"type": "publish", "channel": "chat:a", "data": map[string]any{"n": 2}})
			if r.ErrorCode() != 0 {
				t.Fatalf("publish: %v", r)
			}
			c.Messages("chat:a", 1)
			_ = http.StatusOK
		})
	}
}
