package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeFile overlays the YAML document data, read from the file name, on
// cfg. The document is checked against the schema first, so that a
// mistake names the file, the line and the key, with the nearest valid key
// for a typo, rather than a Go type. A namespaces section replaces the
// namespaces in cfg as a whole: the file says which namespaces exist.
func decodeFile(cfg *Config, name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &Error{File: name, Problem: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 { // an empty file changes nothing
		return nil
	}
	root := doc.Content[0]
	if err := checkNode(root, reflect.TypeFor[Config](), ""); err != nil {
		err.File = name
		return err
	}
	return decodeNode(cfg, name, root)
}

// decodeNode overlays root, a mapping checkNode accepted, on cfg.
func decodeNode(cfg *Config, name string, root *yaml.Node) error {
	if hasKey(root, "namespaces") {
		cfg.Namespaces = nil
	}
	if err := root.Decode(cfg); err != nil {
		// checkNode should have caught it; say where at least.
		return &Error{File: name, Problem: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if cfg.Namespaces == nil {
		cfg.Namespaces = map[string]Namespace{}
	}
	for name, ns := range cfg.Namespaces {
		ns.Normalize()
		cfg.Namespaces[name] = ns
	}
	return nil
}

func hasKey(mapping *yaml.Node, key string) bool {
	if mapping.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkNode checks that n fits type t: known keys, sections where sections
// belong, and scalars that parse as their field's type. path is n's dotted
// key path.
func checkNode(n *yaml.Node, t reflect.Type, path string) *Error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return nil // the key is there without a value: the zero value
	}
	at := func(format string, args ...any) *Error {
		return &Error{Line: n.Line, Key: path, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return at("a duration (like 10s or 5m) expected")
		}
		if n.Tag == "!!int" && n.Value != "0" {
			return at("%s has no unit: write %ss, or 0", n.Value, n.Value)
		}
		if n.Tag != "!!int" {
			if _, err := time.ParseDuration(n.Value); err != nil {
				return at("not a duration (like 10s or 5m): %q", n.Value)
			}
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return at("a section of keys expected, not %s", describe(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a YAML merge key
				continue
			}
			f, ok := fieldByKey(t, k.Value)
			child := joinKey(path, k.Value)
			if !ok {
				return &Error{Line: k.Line, Key: child, Problem: "unknown key" + suggest(t, path, k.Value)}
			}
			if err := checkNode(v, f.Type, child); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return at("a section of names expected, not %s", describe(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkNode(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return at("a list expected, like [a, b], not %s", describe(n))
		}
		for i, item := range n.Content {
			if err := checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return at("a single value expected, not %s", describe(n))
		}
		switch t.Kind() {
		case reflect.Bool:
			if n.Tag != "!!bool" {
				return at("not true or false: %q", n.Value)
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if n.Tag != "!!int" {
				return at("not an integer: %q", n.Value)
			}
		case reflect.Float32, reflect.Float64:
			if n.Tag != "!!int" && n.Tag != "!!float" {
				return at("not a number: %q", n.Value)
			}
		}
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func joinKey(path, key string) string {
	if key == "" {
		key = `""`
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldByKey finds the field of struct t whose yaml key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if k := tagKey(f); k != "" && k == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagKey(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" || !f.IsExported() {
		return ""
	}
	return k
}

// suggest names the key the writer of typo most likely meant: the same
// key in another section ("max_message_size" at the top level is
// limits.max_message_size), else the nearest key of the same section,
// else the nearest anywhere. It returns "" when nothing is near.
func suggest(t reflect.Type, path, typo string) string {
	type candidate struct{ path, key string }
	var all []candidate
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for _, f := range reflect.VisibleFields(t) {
			k := tagKey(f)
			if k == "" {
				continue
			}
			p := joinKey(path, k)
			all = append(all, candidate{p, k})
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, p)
			} else if f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct {
				walk(f.Type.Elem(), p+".NAME")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	for _, c := range all {
		if c.key == typo {
			return fmt.Sprintf(" here (did you mean %s?)", c.path)
		}
	}
	limit := max(2, len(typo)/3)
	best, bestDist := "", limit+1
	var siblings []string
	for _, f := range reflect.VisibleFields(t) {
		if k := tagKey(f); k != "" {
			siblings = append(siblings, k)
		}
	}
	for _, k := range siblings {
		if d := editDistance(typo, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		for _, c := range all {
			if d := editDistance(typo, c.key); d < bestDist {
				best, bestDist = c.path, d
			}
		}
	}
	if best == "" {
		slices.Sort(siblings)
		return " (valid here: " + strings.Join(siblings, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b, counting a
// swap of two neighbouring letters as one edit (adress, adderss).
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
