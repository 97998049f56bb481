package server_test

import (
	"testing"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// Short names for heraldtest's helpers, which these tests use throughout.
var (
	num    = ht.Num
	toJSON = ht.JSON
)

func stillServes(t *testing.T, s *ht.Server) {
	t.Helper()
	s.StillServes(t)
}
