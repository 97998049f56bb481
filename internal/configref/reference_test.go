package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/config"
)

// TestReferenceIsCurrent fails when docs/CONFIG.md is not what the config
// structs and their doc comments produce now, so that the reference cannot
// go stale: a new key, default or comment needs a regeneration.
func TestReferenceIsCurrent(t *testing.T) {
	got, err := reference(root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(referencePath)))
	if err != nil {
		t.Fatalf("%v\nregenerate it: go generate ./config", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale (first difference: %s)\nregenerate it: go generate ./config", referencePath, firstDiff(want, got))
	}
}

// TestWrite checks that the generator writes what the staleness test
// compares.
func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "CONFIG.md")
	if err := write(root, path); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want, err := reference(root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("wrote %d bytes, want the %d of the reference", len(got), len(want))
	}
	if err := write(t.TempDir(), path); err == nil {
		t.Fatal("no error without sources")
	}
}

// root is the module's root directory, seen from this package.
const root = "../.."

// firstDiff shows the first line where the committed file and the
// generated one differ.
func firstDiff(old, new []byte) string {
	a, b := bytes.Split(old, []byte("\n")), bytes.Split(new, []byte("\n"))
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y []byte
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if !bytes.Equal(x, y) {
			return fmt.Sprintf("line %d: committed %q, generated %q", i+1, x, y)
		}
	}
	return "none"
}

// TestReferenceEnvNamesWork sets every environment variable the reference
// names and checks that Load takes it, so the reference's naming cannot
// disagree with the loader's.
func TestReferenceEnvNamesWork(t *testing.T) {
	g, err := collectReference(root, reflect.ValueOf(config.Default()))
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]string{"duration": "7s", "string": "x", "boolean": "true", "integer": "7", "number": "7.5", "list of strings": "a,b"}
	n := 0
	for _, s := range g.sections {
		for _, k := range s.keys {
			env, ok := strings.CutPrefix(strings.Trim(k.env, "`"), config.EnvPrefix)
			if !ok {
				continue
			}
			value, ok := samples[k.typ]
			if !ok {
				t.Fatalf("%s: no sample for type %q", k.path, k.typ)
			}
			// The sample must differ from the default to show an effect.
			if k.def == "`"+value+"`" {
				value = map[string]string{"true": "false", "7": "8"}[value]
			}
			cfg, err := config.Load("", []string{config.EnvPrefix + env + "=" + value})
			if err != nil {
				t.Fatalf("%s: %v", k.path, err)
			}
			if reflect.DeepEqual(cfg, config.Default()) {
				t.Fatalf("%s: %s%s=%s changed nothing", k.path, config.EnvPrefix, env, value)
			}
			n++
		}
	}
	if n < 40 {
		t.Fatalf("only %d keys with environment variables", n)
	}
}

// TestReferenceListsNamespaceOptions checks that the options of a
// namespace, declared in another package, are in the reference with their
// normalized defaults and no environment variable.
func TestReferenceListsNamespaceOptions(t *testing.T) {
	out, err := reference(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [`namespaces.NAME.allow_publish`](#namespacesnameallow_publish) | string | `\"subscribers\"` | none (file only) |",
		"| [`limits.write_queue_bytes`](#limitswrite_queue_bytes) | integer | `4194304` | `HERALD_LIMITS_WRITE_QUEUE_BYTES` |",
		"`history_size` and `history_ttl` keep",
		"asks the hub's SubscribeProxy",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}

// TestParseStructDocsSharesPairComments checks that a field without a
// comment takes the one before it, and that a struct whose first field has
// none leaves that field undocumented.
func TestParseStructDocsSharesPairComments(t *testing.T) {
	dir := t.TempDir()
	src := "package x\n\n// Pair doc.\ntype Pair struct {\n\t// Min and Max bound it.\n\tMin int `yaml:\"min\"`\n\tMax int `yaml:\"max\"`\n}\n\ntype Bare struct {\n\tA int `yaml:\"a\"`\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := parseStructDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := docs["Pair"]
	if p.doc != "Pair doc.\n" || p.fields["Max"] != "Min and Max bound it.\n" || p.keys["Max"] != "max" {
		t.Fatalf("Pair %+v", p)
	}
	if _, ok := docs["Bare"].fields["A"]; ok {
		t.Fatal("Bare.A has a doc")
	}
	if got := markdown(p.fields["Max"], p.keys); got != "`min` and `max` bound it." {
		t.Fatalf("markdown %q", got)
	}
}

// undocumented is declared in a test file, which the generator does not
// read: its fields have no doc comments to find.
type undocumented struct {
	A int `yaml:"a"`
}

func TestReferenceRefusesWhatItCannotDocument(t *testing.T) {
	if _, err := collectReference(root, reflect.ValueOf(undocumented{})); err == nil || !strings.Contains(err.Error(), "undocumented") {
		t.Fatalf("err %v", err)
	}
	if _, err := collectReference(t.TempDir(), reflect.ValueOf(config.Default())); err == nil {
		t.Fatal("no error without sources")
	}
}
