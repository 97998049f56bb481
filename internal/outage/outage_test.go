package outage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestLogOncePerOutage: a run of failures is one warning, its end one info
// line with the count; a new outage is logged again.
func TestLogOncePerOutage(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), "presence sweep")
	l.OK() // nothing to report
	for range 100 {
		l.Fail(errors.New("connection refused"), "channels", 3)
	}
	if !l.Failing() {
		t.Fatal("not failing after failures")
	}
	l.OK()
	l.OK()
	l.Fail(errors.New("timeout"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{
		`level=WARN msg="presence sweep failing; retrying, logged again once it recovers" err="connection refused" channels=3`,
		`level=INFO msg="presence sweep recovered" failures=100 after=`,
		`level=WARN msg="presence sweep failing; retrying, logged again once it recovers" err=timeout`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to contain %s", i, lines[i], want)
		}
	}
}
