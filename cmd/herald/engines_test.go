package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The tests here run in the full build and, in CI, in the lean one too:
//
//	go test -tags herald_noredis,herald_noembeddednats -run 'Engines' ./cmd/herald

// TestCompiledEngines: `herald version` lists exactly the engines the
// build tags left in, as text and as JSON.
func TestCompiledEngines(t *testing.T) {
	want := []string{"memory"}
	if !tagged("herald_noredis") {
		want = append(want, "redis")
	}
	want = append(want, "nats")
	if !tagged("herald_noembeddednats") {
		want = append(want, "nats-embedded")
	}
	if got := compiledEngines(); !slices.Equal(got, want) {
		t.Fatalf("compiled engines %v, want %v", got, want)
	}
	out, code := run(t, nil, "version")
	if code != 0 || !strings.Contains(out, "\nengines "+strings.Join(want, ", ")+"\n") {
		t.Fatalf("exit %d: %q, want the engines %v", code, out, want)
	}
	out, code = run(t, nil, "version", "--json")
	var info buildInfo
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil || !slices.Equal(info.Engines, want) {
		t.Fatalf("exit %d, %v: %q, want the engines %v", code, err, out, want)
	}
}

// TestLeftOutEngines: a configuration that needs a part the build left
// out fails `config check` and `serve` before anything starts, naming the
// key and the tag; with the part compiled in, the check passes.
func TestLeftOutEngines(t *testing.T) {
	cases := []struct {
		part, key string
		env       []string
	}{
		{"redis", "broker.engine", []string{"HERALD_BROKER_ENGINE=redis", "HERALD_BROKER_REDIS_ADDRS=127.0.0.1:1"}},
		{"nats-embedded", "broker.nats.embedded.enabled", []string{"HERALD_BROKER_ENGINE=nats", "HERALD_BROKER_NATS_EMBEDDED_ENABLED=true"}},
	}
	for _, c := range cases {
		t.Run(c.part, func(t *testing.T) {
			env := append([]string{"HERALD_ANONYMOUS=true"}, c.env...)
			tag := leanTags[c.part]
			out, code := run(t, env, "config", "check")
			if !tagged(tag) {
				if code != 0 {
					t.Fatalf("config check with %s compiled in: exit %d: %s", c.part, code, out)
				}
				return
			}
			if code != 2 || !strings.Contains(out, c.key) || !strings.Contains(out, "-tags "+tag) {
				t.Fatalf("config check: exit %d: %q, want 2, %s and the tag", code, out, c.key)
			}
			out, code = run(t, append(env, "HERALD_ADDRESS=127.0.0.1:0"), "serve")
			if code == 0 || !strings.Contains(out, "-tags "+tag) {
				t.Fatalf("serve: exit %d: %q, want a failure naming the tag", code, out)
			}
		})
	}
	// An external NATS needs no embedded server: the lean build keeps it.
	env := []string{"HERALD_ANONYMOUS=true", "HERALD_BROKER_ENGINE=nats", "HERALD_BROKER_NATS_URL=nats://127.0.0.1:1"}
	if out, code := run(t, env, "config", "check"); code != 0 {
		t.Fatalf("config check of an external NATS: exit %d: %s", code, out)
	}
}

// tagged reports whether the build tag that leaves out an engine was given.
func tagged(tag string) bool {
	switch tag {
	case "herald_noredis":
		return !redisCompiledIn
	case "herald_noembeddednats":
		return !embeddedNATSCompiledIn
	}
	panic("unknown tag " + tag)
}
