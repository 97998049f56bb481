package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/bench/baseline/internal/basetest"
	"github.com/heraldhq/herald/bench/baseline/internal/serve"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestHub runs the behaviour every baseline shares against this one.
func TestHub(t *testing.T) {
	basetest.Run(t, func() serve.Hub { return newHub() })
}
