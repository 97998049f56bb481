package server

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
	if set < 14 {
		t.Errorf("DefaultConfig sets only %d fields", set)
	}
	off := Config{ConnectRatePerIP: -1, WriteTimeout: -1}
	off.setDefaults()
	if off.ConnectRatePerIP != -1 || off.WriteTimeout != DefaultConfig().WriteTimeout {
		t.Errorf("rate %v, write timeout %v", off.ConnectRatePerIP, off.WriteTimeout)
	}
}
