package server

import (
	"testing"

	"github.com/heraldhq/herald/internal/defaultstest"
)

// TestZeroConfigTakesDefaultConfig: New gives every field of a zero Config
// the value DefaultConfig states, so that the two cannot drift apart.
func TestZeroConfigTakesDefaultConfig(t *testing.T) {
	var got Config
	got.setDefaults()
	defaultstest.Check(t, got, DefaultConfig(), 14)
	off := Config{ConnectRatePerIP: -1, WriteTimeout: -1}
	off.setDefaults()
	if off.ConnectRatePerIP != -1 || off.WriteTimeout != DefaultConfig().WriteTimeout {
		t.Errorf("rate %v, write timeout %v", off.ConnectRatePerIP, off.WriteTimeout)
	}
}
