//go:build !race

package outbound

// raceEnabled: see race_test.go.
const raceEnabled = false
