package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/config"
)

// TestServeStopsTheHubWhenItFails: serve owns the hub it runs, so a start
// that fails after the hub runs (here the listener's address is taken)
// leaves none of the hub's goroutines behind.
func TestServeStopsTheHubWhenItFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Address = busy.Addr().String()
	cfg.Anonymous = true
	before := goleak.IgnoreCurrent()
	err = serve(context.Background(), cfg, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("serve on a taken address: %v", err)
	}
	goleak.VerifyNone(t, before)
}
