package nats

import (
	"context"
	"errors"
	"fmt"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRetryable: a create is asked again only when asking again can
// succeed; a refusal (JetStream off, a bad configuration) fails at once.
func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&jetstream.APIError{ErrorCode: errNoPeers}, true},
		{fmt.Errorf("create: %w", context.DeadlineExceeded), true},
		{natsgo.ErrTimeout, true},
		{jetstream.ErrJetStreamNotEnabled, false},
		{natsgo.ErrNoResponders, false},
		{&jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamNameInUse}, false},
		{errors.New("invalid stream config"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
