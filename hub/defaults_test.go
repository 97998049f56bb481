package hub

import (
	"reflect"
	"testing"
)

// TestZeroConfigTakesDefaultConfig: New gives every field of a zero Config
// the value DefaultConfig states, so that the two cannot drift apart.
func TestZeroConfigTakesDefaultConfig(t *testing.T) {
	var got Config
	got.setDefaults()
	want := reflect.ValueOf(DefaultConfig())
	typ := want.Type()
	set := 0
	for i := range typ.NumField() {
		f := want.Field(i)
		if f.IsZero() {
			continue
		}
		set++
		if g := reflect.ValueOf(got).Field(i); !reflect.DeepEqual(g.Interface(), f.Interface()) {
			t.Errorf("%s: a zero Config gets %v, DefaultConfig says %v", typ.Field(i).Name, g, f)
		}
	}
	if set < 30 {
		t.Errorf("DefaultConfig sets only %d fields", set)
	}
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
