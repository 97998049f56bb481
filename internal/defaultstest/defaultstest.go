// Package defaultstest checks that a package's defaults are stated once:
// what its setDefaults gives a zero Config is what its DefaultConfig says.
package defaultstest

import (
	"reflect"
	"testing"
)

// Check compares got (a zero Config after setDefaults) with want
// (DefaultConfig()) field by field, over the fields want sets, and fails
// when want sets fewer than minSet fields (a DefaultConfig that lost its
// values would otherwise compare nothing).
func Check[C any](t testing.TB, got, want C, minSet int) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	typ := w.Type()
	set := 0
	for i := range typ.NumField() {
		f := w.Field(i)
		if f.IsZero() {
			continue
		}
		set++
		if !reflect.DeepEqual(g.Field(i).Interface(), f.Interface()) {
			t.Errorf("%s: a zero Config gets %v, DefaultConfig says %v", typ.Field(i).Name, g.Field(i), f)
		}
	}
	if set < minSet {
		t.Errorf("DefaultConfig sets only %d fields", set)
	}
}
