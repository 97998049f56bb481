package config

import (
	_ "embed"
	"fmt"
)

// defaultFile is the one source of Herald's defaults: Default decodes it,
// `herald config init` writes it, and docs/CONFIG.md shows what Default
// returns. A server without a configuration file therefore runs with
// exactly what `config init` writes. It sets every key (a test checks),
// so that nothing is left to a Go zero value by accident.
//
//go:embed default.yaml
var defaultFile []byte

// DefaultFile returns the commented configuration file that holds the
// defaults, for `herald config init`.
func DefaultFile() []byte {
	return append([]byte(nil), defaultFile...)
}

// Default returns the configuration with every default filled in: the
// contents of DefaultFile.
func Default() Config {
	var c Config
	if err := decodeFile(&c, "default.yaml", defaultFile); err != nil {
		// The embedded file is checked by the tests; it cannot fail at run time.
		panic(fmt.Sprintf("config: the built-in defaults do not load: %v", err))
	}
	return c
}
