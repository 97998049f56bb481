package config

import _ "embed"

//go:embed default.yaml
var defaultFile []byte

// DefaultFile returns a commented configuration file holding the defaults
// and an example namespace, for `herald config init`.
func DefaultFile() []byte {
	return append([]byte(nil), defaultFile...)
}
