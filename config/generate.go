package config

// docs/CONFIG.md, the configuration reference, is generated from this
// package's structs, their doc comments and Default by internal/configref,
// whose test fails when the committed file is stale.
//
//go:generate go run ../internal/configref -root ..
