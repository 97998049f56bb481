package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/config"
)

// referencePath is where the configuration reference lives, relative to the
// module's root directory.
const referencePath = "docs/CONFIG.md"

// reference returns the Markdown of docs/CONFIG.md: every configuration key
// with its YAML path, type, default (from config.Default), environment
// variable and description. The descriptions are the fields' doc comments,
// read from the Go sources under root (the module's root directory) rather
// than kept in a second place, so the reference cannot drift from the code:
// a new field changes the output, and a test compares it with the committed
// file. An exported field without a doc comment is an error.
func reference(root string) ([]byte, error) {
	g, err := collectReference(root, reflect.ValueOf(config.Default()))
	if err != nil {
		return nil, err
	}
	return g.render(), nil
}

// collectReference gathers the sections and keys of the struct v.
func collectReference(root string, v reflect.Value) (*refGen, error) {
	g := &refGen{root: root, module: modulePath(), parsed: map[string]map[string]typeDocs{}}
	top := &refSection{}
	g.sections = append(g.sections, top)
	if err := g.walkStruct(v, nil, top, false); err != nil {
		return nil, err
	}
	return g, nil
}

// refHeader opens the generated file; the comment keeps people from editing
// it by hand.
const refHeader = `# Configuration reference

<!-- Generated from the doc comments of the config package's structs and
config.Default(). Do not edit: run "go generate ./config" instead. -->

Herald's configuration is built in layers, each overriding the one before:
the defaults below, then the YAML file given to ` + "`herald serve --config FILE`" + `,
then ` + "`HERALD_*`" + ` environment variables, then command-line flags (` + "`--dev`" + `,
` + "`--address`" + `). Unknown keys in the file are errors, and so are values that
cannot be parsed; a mistake in the file is reported with the file, the line and
the key (and, for a typo, the key meant). A server started without a file
runs with exactly the defaults ` + "`herald config init FILE`" + ` writes, commented;
` + "`herald config check FILE`" + ` validates a file (with the environment applied),
runs the checks ` + "`herald serve`" + ` runs before it listens (reading the key and
certificate files, fetching the JWKS) and names the first problem.

Every key has an environment variable: ` + "`HERALD_`" + ` followed by its YAML path
upper-cased and joined by ` + "`_`" + ` (` + "`limits.max_message_size`" + ` is
` + "`HERALD_LIMITS_MAX_MESSAGE_SIZE`" + `). Durations are Go durations (` + "`10s`" + `,
` + "`5m`" + `, ` + "`24h`" + `); lists are comma-separated in the environment
(` + "`HERALD_API_KEYS=key1,key2`" + `). Namespaces can only be set in the file.
Put secrets (` + "`token.hmac_secret`" + `, ` + "`api_keys`" + `,
` + "`broker.redis.password`" + `) in the environment rather than the file.
`

type refGen struct {
	root, module string
	// parsed caches the doc comments of each package directory's structs.
	parsed   map[string]map[string]typeDocs
	sections []*refSection
}

// typeDocs is what the sources say about one struct type.
type typeDocs struct {
	doc    string
	fields map[string]string
	// keys maps the struct's Go field names to their YAML keys, so that a
	// comment's "HistorySize" reads "`history_size`" in the reference.
	keys map[string]string
}

// refSection is a heading and the keys under it.
type refSection struct {
	path string // "" for top-level keys
	doc  string
	keys []refKey
	// names maps Go field names to YAML keys for the section's own doc.
	names map[string]string
}

type refKey struct {
	path, typ, def, env, doc string
	names                    map[string]string
	// extra is Markdown shown after the description as it is.
	extra string
}

var durationT = reflect.TypeFor[time.Duration]()

// walkStruct adds v's keys to sec and a section for each nested struct.
// inMap marks keys below a map, which have no environment variable.
func (g *refGen) walkStruct(v reflect.Value, path []string, sec *refSection, inMap bool) error {
	t := v.Type()
	docs, err := g.docsOf(t)
	if err != nil {
		return err
	}
	// A section opens with its struct's doc, which says more than the
	// parent's field comment does; the top level has the intro instead.
	if sec.path != "" && docs.doc != "" {
		sec.doc, sec.names = docs.doc, docs.keys
	}
	var nested []func() error
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		doc, ok := docs.fields[f.Name]
		if !ok {
			return fmt.Errorf("config reference: %s.%s (%s) has no doc comment", t, f.Name, strings.Join(append(path, key), "."))
		}
		p := append(append([]string(nil), path...), key)
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != durationT:
			// Nested structs get their own sections after this one's keys.
			nested = append(nested, func() error {
				sub := &refSection{path: strings.Join(p, "."), doc: doc}
				g.sections = append(g.sections, sub)
				return g.walkStruct(fv, p, sub, inMap)
			})
		case f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct:
			elem := f.Type.Elem()
			sec.keys = append(sec.keys, refKey{path: strings.Join(p, "."), typ: "map of name to " + strings.ToLower(elem.Name()),
				def: formatMapKeys(fv), env: "none (file only)", doc: doc, names: docs.keys, extra: defaultBlock(key)})
			nested = append(nested, func() error {
				sub := &refSection{path: strings.Join(p, ".") + ".NAME"}
				g.sections = append(g.sections, sub)
				zero := reflect.New(elem)
				if n, ok := zero.Interface().(interface{ Normalize() }); ok {
					n.Normalize()
				}
				return g.walkStruct(zero.Elem(), append(p, "NAME"), sub, true)
			})
		default:
			typ, err := typeName(f.Type)
			if err != nil {
				return fmt.Errorf("config reference: %s: %w", strings.Join(p, "."), err)
			}
			env := "none (file only)"
			if !inMap {
				env = "`" + config.EnvPrefix + strings.ToUpper(strings.Join(p, "_")) + "`"
			}
			sec.keys = append(sec.keys, refKey{path: strings.Join(p, "."), typ: typ, def: formatDefault(fv), env: env, doc: doc, names: docs.keys})
		}
	}
	for _, fn := range nested {
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}

func typeName(t reflect.Type) (string, error) {
	switch {
	case t == durationT:
		return "duration", nil
	case t.Kind() == reflect.String:
		return "string", nil
	case t.Kind() == reflect.Bool:
		return "boolean", nil
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "integer", nil
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number", nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list of strings", nil
	}
	return "", fmt.Errorf("type %s has no reference rendering", t)
}

// formatDefault renders a default value as YAML would accept it.
func formatDefault(v reflect.Value) string {
	var s string
	switch {
	case v.Type() == durationT:
		s = formatDuration(time.Duration(v.Int()))
	case v.Kind() == reflect.String:
		if v.String() == "" {
			return "none"
		}
		s = strconv.Quote(v.String())
	case v.Kind() == reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strconv.Quote(v.Index(i).String())
		}
		s = "[" + strings.Join(parts, ", ") + "]"
	case v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64:
		s = strconv.FormatFloat(v.Float(), 'g', -1, 64)
	default:
		s = fmt.Sprint(v.Interface())
	}
	return "`" + s + "`"
}

// formatMapKeys renders a map's default as its keys, sorted.
func formatMapKeys(v reflect.Value) string {
	if v.Len() == 0 {
		return "`{}`"
	}
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, strconv.Quote(k.String()))
	}
	slices.Sort(keys)
	return "`" + strings.Join(keys, "`, `") + "`"
}

// defaultBlock quotes the top-level section key of the default file, for
// defaults that a table cell cannot show (the namespaces).
func defaultBlock(key string) string {
	lines := strings.Split(string(config.DefaultFile()), "\n")
	start := slices.Index(lines, key+":")
	if start < 0 {
		return ""
	}
	end := start + 1
	for end < len(lines) && (strings.HasPrefix(lines[end], " ") || lines[end] == "" && end+1 < len(lines) && strings.HasPrefix(lines[end+1], " ")) {
		end++
	}
	return "The default, as `herald config init` writes it:\n\n```yaml\n" + strings.Join(lines[start:end], "\n") + "\n```\n"
}

// formatDuration drops the zero units time.Duration.String keeps ("5m0s").
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// modulePath is the module's import path, derived from the config
// package's so that nothing has to repeat it.
func modulePath() string {
	return strings.TrimSuffix(reflect.TypeFor[config.Config]().PkgPath(), "/config")
}

// docsOf returns the doc comments of struct type t, parsing its package's
// sources once.
func (g *refGen) docsOf(t reflect.Type) (typeDocs, error) {
	pkg := t.PkgPath()
	rel, ok := strings.CutPrefix(pkg, g.module)
	if !ok {
		return typeDocs{}, fmt.Errorf("config reference: %s is outside the module; its fields cannot be documented", t)
	}
	dir := filepath.Join(g.root, filepath.FromSlash(strings.TrimPrefix(rel, "/")))
	types, ok := g.parsed[dir]
	if !ok {
		var err error
		if types, err = parseStructDocs(dir); err != nil {
			return typeDocs{}, err
		}
		g.parsed[dir] = types
	}
	td, ok := types[t.Name()]
	if !ok {
		return typeDocs{}, fmt.Errorf("config reference: struct %s not found in %s", t, dir)
	}
	return td, nil
}

// parseStructDocs reads the doc comments of every struct type declared in
// dir's non-test Go files. A field without a comment shares the one of the
// field before it, which is how the sources document pairs ("CertFile and
// KeyFile turn TLS on").
func parseStructDocs(dir string) (map[string]typeDocs, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("config reference: %w", err)
	}
	out := map[string]typeDocs{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("config reference: %w", err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				td := typeDocs{doc: doc.Text(), fields: map[string]string{}, keys: map[string]string{}}
				prev := ""
				for _, field := range st.Fields.List {
					text := field.Doc.Text()
					if text == "" {
						text = prev
					}
					prev = text
					if text == "" {
						continue
					}
					for _, n := range field.Names {
						td.fields[n.Name] = text
						if key := yamlKey(field.Tag); key != "" {
							td.keys[n.Name] = key
						}
					}
				}
				out[ts.Name.Name] = td
			}
		}
	}
	return out, nil
}

// yamlKey reads the yaml key from a field's tag literal.
func yamlKey(tag *ast.BasicLit) string {
	if tag == nil {
		return ""
	}
	raw, err := strconv.Unquote(tag.Value)
	if err != nil {
		return ""
	}
	key, _, _ := strings.Cut(reflect.StructTag(raw).Get("yaml"), ",")
	if key == "-" {
		return ""
	}
	return key
}

var identRE = regexp.MustCompile(`\b[A-Z][A-Za-z0-9]*\b`)

// markdown turns a doc comment into Markdown (escaping what Markdown would
// read as markup, keeping code blocks and lists), and the Go names of the
// struct's fields into their YAML keys, which is what the reader writes.
func markdown(text string, keys map[string]string) string {
	var p comment.Parser
	var pr comment.Printer
	md := strings.TrimSpace(string(pr.Markdown(p.Parse(text))))
	var b strings.Builder
	last := 0
	for _, m := range identRE.FindAllStringIndex(md, -1) {
		key, ok := keys[md[m[0]:m[1]]]
		// "the hub's SubscribeProxy" names something else's field.
		if !ok || strings.HasSuffix(md[:m[0]], "'s ") {
			continue
		}
		b.WriteString(md[last:m[0]] + "`" + key + "`")
		last = m[1]
	}
	return b.String() + md[last:]
}

func (g *refGen) render() []byte {
	var b bytes.Buffer
	b.WriteString(refHeader)
	b.WriteString("\n## Contents\n\n")
	for _, s := range g.sections {
		title := s.title()
		fmt.Fprintf(&b, "- [%s](#%s)\n", title, anchor(title))
	}
	for _, s := range g.sections {
		fmt.Fprintf(&b, "\n## %s\n\n", s.title())
		if s.doc != "" {
			b.WriteString(markdown(s.doc, s.names) + "\n\n")
		}
		// A summary table first, for scanning; the descriptions follow.
		b.WriteString("| Key | Type | Default | Environment |\n|---|---|---|---|\n")
		for _, k := range s.keys {
			fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", k.path, anchor(k.path), k.typ, k.def, k.env)
		}
		for _, k := range s.keys {
			fmt.Fprintf(&b, "\n### %s\n\n%s\n", k.path, markdown(k.doc, k.names))
			if k.extra != "" {
				b.WriteString("\n" + k.extra)
			}
		}
	}
	return b.Bytes()
}

func (s *refSection) title() string {
	if s.path == "" {
		return "Top-level keys"
	}
	return s.path
}

// anchor is the heading id GitHub derives from a heading's text.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
