package hub

import (
	"testing"

	"github.com/heraldhq/herald/internal/defaultstest"
)

// TestZeroConfigTakesDefaultConfig: New gives every field of a zero Config
// the value DefaultConfig states, so that the two cannot drift apart.
func TestZeroConfigTakesDefaultConfig(t *testing.T) {
	var got Config
	got.setDefaults()
	defaultstest.Check(t, got, DefaultConfig(), 30)
	// Negative values of the fields with no limit at -1 stay as they are.
	off := Config{MaxPresenceMembers: -1, MaxConnectionsPerUser: -1, PublishRate: -1, MaxOutgoingBytes: -1, NewChannelQuota: -1}
	off.setDefaults()
	if off.MaxPresenceMembers != -1 || off.MaxConnectionsPerUser != -1 || off.PublishRate != -1 || off.MaxOutgoingBytes != -1 || off.NewChannelQuota != -1 {
		t.Errorf("-1 replaced: %+v", off)
	}
	// Negative durations and sizes take the default.
	neg := Config{PingInterval: -1, WriteQueueMessages: -1}
	neg.setDefaults()
	if neg.PingInterval != DefaultConfig().PingInterval || neg.WriteQueueMessages != DefaultConfig().WriteQueueMessages {
		t.Errorf("negative kept: %v %v", neg.PingInterval, neg.WriteQueueMessages)
	}
}
