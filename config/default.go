package config

import (
	_ "embed"
	"fmt"
	"reflect"
	"sync"

	"go.yaml.in/yaml/v3"
)

// defaultFile is the one source of the herald binary's defaults: Default
// decodes it, `herald config init` writes it, and docs/CONFIG.md shows what
// Default returns. A server without a configuration file therefore runs
// with exactly what `config init` writes. It sets every key (a test
// checks), so that nothing is left to a Go zero value by accident. The
// libraries' own defaults, hub.DefaultConfig and server.DefaultConfig,
// agree with it key by key but for the namespaces and the inboxes the file
// turns on (cmd/herald's defaults_test.go checks).
//
//go:embed default.yaml
var defaultFile []byte

// DefaultFile returns the commented configuration file that holds the
// defaults, for `herald config init`.
func DefaultFile() []byte {
	return append([]byte(nil), defaultFile...)
}

// defaultNode is defaultFile parsed and checked, once: Default decodes it
// on every call, which costs a hundredth of parsing it again.
var defaultNode = sync.OnceValue(func() *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(defaultFile, &doc); err != nil {
		panic(fmt.Sprintf("config: the built-in defaults do not parse: %v", err))
	}
	if err := checkNode(doc.Content[0], reflect.TypeFor[Config](), ""); err != nil {
		panic(fmt.Sprintf("config: the built-in defaults do not fit the schema: %v", err))
	}
	return doc.Content[0]
})

// Default returns the configuration with every default filled in: the
// contents of DefaultFile.
func Default() Config {
	var c Config
	if err := decodeNode(&c, "default.yaml", defaultNode()); err != nil {
		// The embedded file is checked by the tests; it cannot fail at run time.
		panic(fmt.Sprintf("config: the built-in defaults do not load: %v", err))
	}
	return c
}
