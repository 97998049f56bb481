package client_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
)

// The pattern language of conformance/README.md ("Matching"): expected
// values are JSON in which some strings are placeholders.

// placeholder matches "{{kind}}", "{{kind:name}}" and "{{=name}}" (kind
// "=" then); braced matches any string written like a placeholder, so that
// a misspelt one is a vector error rather than a literal.
var (
	placeholder = regexp.MustCompile(`^\{\{(?:(=)|([a-z]+):?)([A-Za-z0-9_.-]*)\}\}$`)
	braced      = regexp.MustCompile(`^\{\{.*\}\}$`)
)

// parsePlaceholder splits a placeholder string into its kind ("=" for a
// captured value) and name; ok is false for other strings.
func parsePlaceholder(s string) (kind, name string, ok bool) {
	m := placeholder.FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	if m[1] == "=" {
		return "=", m[3], m[3] != ""
	}
	return m[2], m[3], true
}

// vars holds what a vector run captured, by name.
type vars map[string]any

// mismatch is a failed match: where, and what differed.
type mismatch struct {
	path string
	msg  string
}

func (m *mismatch) Error() string { return m.path + ": " + m.msg }

// match checks actual against pattern, capturing into v. present is false
// when the key holding actual is missing from its object (actual is nil
// then). It returns the first difference.
func (v vars) match(path string, pattern, actual any, present bool) error {
	if s, ok := pattern.(string); ok && braced.MatchString(s) {
		kind, name, ok := parsePlaceholder(s)
		if !ok {
			return &mismatch{path, fmt.Sprintf("vector error: %s is not a placeholder", s)}
		}
		return v.matchPlaceholder(path, kind, name, s, actual, present)
	}
	if !present {
		return &mismatch{path, fmt.Sprintf("expected %s, but the key is absent", show(pattern))}
	}
	switch p := pattern.(type) {
	case map[string]any:
		a, ok := actual.(map[string]any)
		if !ok {
			return &mismatch{path, fmt.Sprintf("expected an object, got %s", show(actual))}
		}
		for _, k := range sortedKeys(p) {
			key, err := v.key(path, k)
			if err != nil {
				return err
			}
			av, has := a[key]
			if err := v.match(path+pathKey(key), p[k], av, has); err != nil {
				return err
			}
		}
		return nil
	case []any:
		a, ok := actual.([]any)
		if !ok {
			return &mismatch{path, fmt.Sprintf("expected an array of %d, got %s", len(p), show(actual))}
		}
		if len(a) != len(p) {
			return &mismatch{path, fmt.Sprintf("expected an array of %d, got %d: %s", len(p), len(a), show(actual))}
		}
		for i := range p {
			if err := v.match(fmt.Sprintf("%s[%d]", path, i), p[i], a[i], true); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		if a, ok := actual.(json.Number); !ok || !sameNumber(p, a) {
			return &mismatch{path, fmt.Sprintf("expected %s, got %s", p, show(actual))}
		}
		return nil
	}
	if pattern != actual { // strings, booleans, null
		return &mismatch{path, fmt.Sprintf("expected %s, got %s", show(pattern), show(actual))}
	}
	return nil
}

// matchPlaceholder checks one placeholder: {{any}}, {{absent}}, a type
// ({{string}}), a capture ({{string:name}}) or a captured value ({{=name}}).
func (v vars) matchPlaceholder(path, kind, name, raw string, actual any, present bool) error {
	if kind == "absent" {
		if present && !isZero(actual) {
			return &mismatch{path, fmt.Sprintf("expected the key absent, got %s", show(actual))}
		}
		return nil
	}
	if !present {
		return &mismatch{path, fmt.Sprintf("expected %s, but the key is absent", raw)}
	}
	if kind == "=" {
		want, ok := v[name]
		if !ok {
			return &mismatch{path, fmt.Sprintf("vector error: %s before anything was captured under that name", raw)}
		}
		if err := v.match(path, want, actual, true); err != nil {
			return &mismatch{path, fmt.Sprintf("expected %s = %s, got %s", raw, show(want), show(actual))}
		}
		return nil
	}
	if !hasType(kind, actual) {
		if !knownType(kind) {
			return &mismatch{path, fmt.Sprintf("vector error: unknown placeholder %s", raw)}
		}
		return &mismatch{path, fmt.Sprintf("expected %s, got %s", raw, show(actual))}
	}
	if name == "" {
		return nil
	}
	if prev, ok := v[name]; ok {
		if err := v.match(path, prev, actual, true); err != nil {
			return &mismatch{path, fmt.Sprintf("expected %s = %s (captured before), got %s", raw, show(prev), show(actual))}
		}
		return nil
	}
	v[name] = actual
	return nil
}

// key resolves a pattern's object key: "{{=name}}" stands for a captured
// string (a client id keying a presence result, say).
func (v vars) key(path, k string) (string, error) {
	kind, name, _ := parsePlaceholder(k)
	if kind != "=" {
		return k, nil
	}
	s, ok := v[name].(string)
	if !ok {
		return "", &mismatch{path, fmt.Sprintf("vector error: key %s names no captured string", k)}
	}
	return s, nil
}

func knownType(kind string) bool {
	switch kind {
	case "any", "string", "number", "bool", "object", "array":
		return true
	}
	return false
}

func hasType(kind string, v any) bool {
	switch kind {
	case "any":
		return true
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "bool":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}

// isZero reports whether v reads as an absent field would (PROTOCOL.md
// §5.3): null, 0, "", false, [] or {}. Protobuf cannot tell those from
// absent, so neither can {{absent}}.
func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case json.Number:
		return sameNumber(v, "0")
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// sameNumber compares two JSON numbers by value (1 equals 1.0).
func sameNumber(a, b json.Number) bool {
	x, ok1 := new(big.Rat).SetString(string(a))
	y, ok2 := new(big.Rat).SetString(string(b))
	return ok1 && ok2 && x.Cmp(y) == 0
}

// substitute returns v with its placeholders replaced for sending: a
// string that is "{{=name}}" by the captured value, one that is a token
// placeholder by a token from mint, and object keys "{{=name}}" by the
// captured string.
func (vs vars) substitute(v any, mint func(string) (string, bool, error)) (any, error) {
	switch v := v.(type) {
	case string:
		if kind, name, _ := parsePlaceholder(v); kind == "=" {
			got, ok := vs[name]
			if !ok {
				return nil, fmt.Errorf("vector error: %s before anything was captured under that name", v)
			}
			return got, nil
		}
		if tok, ok, err := mint(v); ok || err != nil {
			return tok, err
		}
		if braced.MatchString(v) {
			return nil, fmt.Errorf("vector error: %s has no meaning in a command", v)
		}
		return v, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			key, err := vs.key("$", k)
			if err != nil {
				return nil, err
			}
			if out[key], err = vs.substitute(e, mint); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = vs.substitute(e, mint); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// decodeJSON decodes b keeping numbers exact.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("more than one JSON value in %q", b)
	}
	return v, nil
}

// pathKey returns the path step for an object key: .key, or ["key"] when
// the key is not a plain identifier.
func pathKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "[" + strconv.Quote(k) + "]"
		}
	}
	if k == "" {
		return `[""]`
	}
	return "." + k
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// show renders a value for a mismatch message, cut if long.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 300
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
