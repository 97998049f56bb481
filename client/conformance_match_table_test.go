package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/protocol"
)

// TestMatch checks the vectors' matcher itself, so that a matcher that
// accepts anything cannot make every vector pass.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name, pattern, actual string
		vars                  vars   // captured before the match
		err                   string // "" when it must match; else part of the message
		captured              vars   // variables after a successful match
	}{
		{name: "equal scalars", pattern: `{"a": 1, "b": "x", "c": true, "d": null}`, actual: `{"a": 1, "b": "x", "c": true, "d": null}`},
		{name: "numbers by value", pattern: `{"a": 1}`, actual: `{"a": 1.0}`},
		{name: "different number", pattern: `{"a": 1}`, actual: `{"a": 2}`, err: "$.a: expected 1, got 2"},
		{name: "number is not a string", pattern: `{"a": 1}`, actual: `{"a": "1"}`, err: `$.a: expected 1, got "1"`},
		{name: "different string", pattern: `{"a": {"b": "x"}}`, actual: `{"a": {"b": "y"}}`, err: `$.a.b: expected "x", got "y"`},
		{name: "bool", pattern: `{"a": false}`, actual: `{"a": true}`, err: "$.a: expected false, got true"},
		{name: "extra keys ignored", pattern: `{"a": 1}`, actual: `{"a": 1, "b": 2}`},
		{name: "missing key", pattern: `{"a": 1, "b": 2}`, actual: `{"a": 1}`, err: "$.b: expected 2, but the key is absent"},
		{name: "object expected", pattern: `{"a": {}}`, actual: `{"a": []}`, err: "$.a: expected an object"},
		{name: "arrays element-wise", pattern: `[1, {"a": "x"}]`, actual: `[1, {"a": "x", "b": 0}]`},
		{name: "array length", pattern: `{"p": [1, 2]}`, actual: `{"p": [1, 2, 3]}`, err: "$.p: expected an array of 2, got 3"},
		{name: "array element", pattern: `{"p": [{"o": 1}, {"o": 2}]}`, actual: `{"p": [{"o": 1}, {"o": 3}]}`, err: "$.p[1].o: expected 2, got 3"},
		{name: "empty array is not absent", pattern: `{"p": []}`, actual: `{}`, err: "$.p: expected [], but the key is absent"},
		{name: "odd key in path", pattern: `{"subs": {"chat:x": {"offset": 1}}}`, actual: `{"subs": {"chat:x": {"offset": 2}}}`, err: `$.subs["chat:x"].offset: expected 1, got 2`},
		{name: "any", pattern: `{"a": "{{any}}"}`, actual: `{"a": null}`},
		{name: "any needs the key", pattern: `{"a": "{{any}}"}`, actual: `{}`, err: "$.a: expected {{any}}, but the key is absent"},
		{name: "types", pattern: `{"s": "{{string}}", "n": "{{number}}", "b": "{{bool}}", "o": "{{object}}", "a": "{{array}}"}`, actual: `{"s": "", "n": 0, "b": false, "o": {}, "a": []}`},
		{name: "string type", pattern: `{"s": "{{string}}"}`, actual: `{"s": 5}`, err: "$.s: expected {{string}}, got 5"},
		{name: "number type", pattern: `{"n": "{{number}}"}`, actual: `{"n": "5"}`, err: `$.n: expected {{number}}, got "5"`},
		{name: "absent", pattern: `{"a": "{{absent}}"}`, actual: `{"b": 1}`},
		{name: "absent reads zero values", pattern: `{"a": "{{absent}}", "b": "{{absent}}", "c": "{{absent}}", "d": "{{absent}}", "e": "{{absent}}", "f": "{{absent}}"}`, actual: `{"a": null, "b": 0, "c": "", "d": false, "e": [], "f": {}}`},
		{name: "absent but present", pattern: `{"a": "{{absent}}"}`, actual: `{"a": 3}`, err: "$.a: expected the key absent, got 3"},
		{name: "absent but true", pattern: `{"recovered": "{{absent}}"}`, actual: `{"recovered": true}`, err: "$.recovered: expected the key absent, got true"},
		{name: "capture", pattern: `{"client": "{{string:c}}", "n": "{{number:n}}"}`, actual: `{"client": "abc", "n": 7}`, captured: vars{"c": "abc", "n": number("7")}},
		{name: "capture checks type", pattern: `{"client": "{{string:c}}"}`, actual: `{"client": 7}`, err: "$.client: expected {{string:c}}, got 7"},
		{name: "captured value", pattern: `{"epoch": "{{=e}}"}`, actual: `{"epoch": "ab"}`, vars: vars{"e": "ab"}},
		{name: "captured value differs", pattern: `{"epoch": "{{=e}}"}`, actual: `{"epoch": "cd"}`, vars: vars{"e": "ab"}, err: `$.epoch: expected {{=e}} = "ab", got "cd"`},
		{name: "captured number", pattern: `{"expires": "{{=x}}"}`, actual: `{"expires": 12}`, vars: vars{"x": number("12")}},
		{name: "capture again must agree", pattern: `{"a": "{{string:c}}", "b": "{{string:c}}"}`, actual: `{"a": "x", "b": "y"}`, err: `$.b: expected {{string:c}} = "x" (captured before), got "y"`},
		{name: "never captured", pattern: `{"a": "{{=nope}}"}`, actual: `{"a": 1}`, err: "vector error: {{=nope}} before anything was captured"},
		{name: "captured key", pattern: `{"clients": {"{{=c}}": {"user": "u"}}}`, actual: `{"clients": {"abc": {"user": "u"}, "def": {"user": "v"}}}`, vars: vars{"c": "abc"}},
		{name: "captured key missing", pattern: `{"clients": {"{{=c}}": {"user": "u"}}}`, actual: `{"clients": {"def": {"user": "u"}}}`, vars: vars{"c": "abc"}, err: `$.clients.abc: expected {"user":"u"}, but the key is absent`},
		{name: "unknown placeholder", pattern: `{"a": "{{strnig}}"}`, actual: `{"a": "x"}`, err: "vector error: unknown placeholder {{strnig}}"},
		{name: "not a placeholder", pattern: `{"a": "{{string x}}"}`, actual: `{"a": "x"}`, err: "vector error: {{string x}} is not a placeholder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pattern, err := decodeJSON([]byte(tc.pattern))
			if err != nil {
				t.Fatal(err)
			}
			actual, err := decodeJSON([]byte(tc.actual))
			if err != nil {
				t.Fatal(err)
			}
			v := vars{}
			for k, x := range tc.vars {
				v[k] = x
			}
			err = v.match("$", pattern, actual, true)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("%s against %s: %v", tc.pattern, tc.actual, err)
			case tc.err != "" && err == nil:
				t.Fatalf("%s matched %s; want %q", tc.pattern, tc.actual, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q, want it to contain %q", err, tc.err)
			}
			for k, want := range tc.captured {
				if got := v[k]; got != want {
					t.Errorf("captured %s = %#v, want %#v", k, got, want)
				}
			}
		})
	}
}

// number is a JSON number as the matcher decodes it.
func number(s string) any {
	v, err := decodeJSON([]byte(s))
	if err != nil {
		panic(err)
	}
	return v
}

// TestSubstitute checks what the runner sends for placeholders in
// commands.
func TestSubstitute(t *testing.T) {
	v := vars{"e": "ab", "o": number("3"), "c": "abc"}
	cmd, _ := decodeJSON([]byte(`{"id": 2, "since": {"offset": "{{=o}}", "epoch": "{{=e}}"}, "subs": {"{{=c}}": {}}, "token": "{{token:alice}}", "name": "{{not-substituted"}`))
	got, err := v.substitute(cmd, mintToken)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	since := m["since"].(map[string]any)
	if since["offset"] != number("3") || since["epoch"] != "ab" || m["subs"].(map[string]any)["abc"] == nil || m["name"] != "{{not-substituted" {
		t.Fatalf("substituted %s", show(got))
	}
	if tok, _ := m["token"].(string); strings.Count(tok, ".") != 2 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	for _, bad := range []string{`{"a": "{{=nope}}"}`, `{"a": "{{string}}"}`, `{"token": "{{token:alice,exp=soon}}"}`, `{"token": "{{chantoken:alice}}"}`} {
		cmd, _ := decodeJSON([]byte(bad))
		if _, err := v.substitute(cmd, mintToken); err == nil || !strings.Contains(err.Error(), "vector error") {
			t.Errorf("%s: error %v, want a vector error", bad, err)
		}
	}
}

// TestWrongVectorFails runs vectors whose expectations the server does not
// meet and checks that each fails, naming the step and the path that
// differed: the runner cannot pass a vector that is wrong.
func TestWrongVectorFails(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(conformanceDir, "vectors", "020-subscribe-publish.json"))
	if err != nil {
		t.Fatal(err)
	}
	addr := conformanceServer(t)
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{
		{"wrong offset", `"channel": "chat:v020", "offset": 1,`, `"channel": "chat:v020", "offset": 7,`,
			[]string{"step 9 ", "$.offset: expected 7, got 1"}},
		{"wrong data", `"offset": 2, "data": "second"}}`, `"offset": 2, "data": "third"}}`,
			[]string{"step 12 ", `$.data: expected "third", got "second"`}},
		{"wrong user", `"user": "bob-020"}}}`, `"user": "carol-020"}}}`,
			[]string{"step 6 ", `$.result.user: expected "carol-020", got "bob-020"`}},
		{"a message where none is expected", `{"client": "a", "expect": {"type": "message", "channel": "chat:v020", "offset": 2, "data": "second"}}`, `{"client": "a", "expectNone": {"ms": 300}}`,
			[]string{"step 12 ", "expected no message"}},
		{"an error expected", `"result": {"offset": 2, "epoch": "{{=epoch}}"}`, `"error": {"code": 103}`,
			[]string{"step 11 ", "$.error: expected"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(good), tc.from) {
				t.Fatalf("the vector no longer holds %s", tc.from)
			}
			// Each run gets channels of its own: this server stays up
			// for all of them.
			wrong := strings.ReplaceAll(strings.Replace(string(good), tc.from, tc.to, 1), "v020", "v020-"+strings.ReplaceAll(tc.name, " ", "-"))
			file := filepath.Join(t.TempDir(), "wrong.json")
			if err := os.WriteFile(file, []byte(wrong), 0o600); err != nil {
				t.Fatal(err)
			}
			v, err := readVector(file)
			if err != nil {
				t.Fatal(err)
			}
			err = runVector(addr, "", v, protocol.JSON)
			if err == nil {
				t.Fatal("a wrong vector passed")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want it to name %q", err, want)
				}
			}
		})
	}
}
