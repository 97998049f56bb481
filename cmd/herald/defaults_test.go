package main

import (
	"reflect"
	"testing"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/server"
)

// The binary's defaults come from one file, config/default.yaml; a library
// user's come from hub.DefaultConfig and server.DefaultConfig. These tests
// check that the two agree option by option: a server started without a
// configuration file runs the hub and server a zero Config gives, but for
// the differences listed, each with its reason.

func TestDefaultFileAgreesWithHubDefaults(t *testing.T) {
	compareDefaults(t, hubConfig(config.Default(), nil), hub.DefaultConfig(), map[string]string{
		"Namespaces": `the file opens "" and "chat"; a library hub refuses every channel until given namespaces`,
		"Inbox":      "the file keeps inboxes of 100 messages for 24h; a library hub has them off",
		"Version":    "the binary names its build",
	})
}

func TestDefaultFileAgreesWithServerDefaults(t *testing.T) {
	compareDefaults(t, serverConfig(config.Default(), nil), server.DefaultConfig(), nil)
}

// compareDefaults checks every field of got, the options the binary builds
// from the default file, against want, the library's defaults. A field
// agrees when it is equal, or empty: the library's default then applies.
// differ names the fields that differ on purpose; they must differ.
func compareDefaults[T any](t *testing.T, got, want T, differ map[string]string) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		name := g.Type().Field(i).Name
		gf, wf := g.Field(i), w.Field(i)
		agree := empty(gf) || reflect.DeepEqual(gf.Interface(), wf.Interface())
		switch why, listed := differ[name]; {
		case listed && agree:
			t.Errorf("%s: listed as differing (%s), but the file gives %v and the library %v", name, why, gf, wf)
		case !listed && !agree:
			t.Errorf("%s: the default file gives %v, the library's default is %v", name, gf, wf)
		}
		delete(differ, name)
	}
	for name := range differ {
		t.Errorf("%s: listed as differing, but there is no such field", name)
	}
}

// empty reports whether v is zero, or an empty slice or map.
func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}
