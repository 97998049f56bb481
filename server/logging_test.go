package server_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/internal/logtest"
	"github.com/heraldhq/herald/protocol"
)

// TestMalformedFrameLogQuotesNothing: the debug line a malformed frame
// leaves says what was wrong, never what the client sent.
func TestMalformedFrameLogQuotesNothing(t *testing.T) {
	const marker = "SECRETMARKER"
	logs := &logtest.Buffer{}
	s := ht.Start(t, ht.Options{Hub: hub.Config{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}})
	frames := map[protocol.Encoding][]string{
		protocol.JSON: {
			`{"type":"connect","token":` + marker + `}`,
			`{"type":"connect","id":"` + marker + `"}`,
		},
		protocol.Protobuf: {
			"\xb9\x60" + marker, // a length prefix of 12345, then the marker
		},
	}
	sent := 0
	for enc, list := range frames {
		for _, f := range list {
			c := dialWith(t, s, enc.Subprotocol())
			c.Send([]byte(f))
			c.ExpectClose(4500)
			sent++
		}
	}
	ht.Eventually(t, 5*time.Second, func() bool {
		return strings.Count(logs.String(), "malformed frame") == sent
	}, "a malformed-frame line per frame:\n%s", logs)
	if strings.Contains(logs.String(), marker) || strings.Contains(logs.String(), "12345") {
		t.Fatalf("the log quotes a client's frame:\n%s", logs)
	}
}
