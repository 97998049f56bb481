package client_test

import (
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/protocol"
)

// TestConformance runs every conformance vector (conformance/vectors) in
// every encoding it lists, against a herald serve --config
// conformance/server.yaml per encoding: a vector expects fresh channels, so
// its run in one encoding must not see what its run in the other left.
// Subtests are named by file and encoding
// (TestConformance/020-subscribe-publish.json/protobuf).
func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(conformanceDir, "vectors", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s (%v)", conformanceDir, err)
	}
	addrs := map[string]string{"json": conformanceServer(t), "protobuf": conformanceServer(t)}
	// The same vectors over raw TCP, against servers of their own.
	type tcpServer struct{ addr, tcp string }
	tcpAddrs := map[string]tcpServer{}
	for _, enc := range []string{"json", "protobuf"} {
		a, ta := conformanceServerTCP(t)
		tcpAddrs[enc] = tcpServer{a, ta}
	}
	type result struct {
		file, encoding string
		err            chan error
	}
	// Every run starts at once, whatever -parallel allows: vectors use
	// channels and users of their own, and most of their time is waiting
	// for the server (a ping, a token's expiry), so the set takes as long
	// as its slowest vector.
	var results []result
	for _, file := range files {
		v, err := readVector(file)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, name := range v.Encodings {
			r := result{filepath.Base(file), name, make(chan error, 1)}
			results = append(results, r)
			enc, err := encodingNamed(name)
			if err != nil {
				r.err <- err
				continue
			}
			go func(addr string, enc protocol.Encoding) { r.err <- runVector(addr, "", v, enc) }(addrs[name], enc)
			if _, skip := tcpOnlyWebSocket[filepath.Base(file)]; skip {
				continue
			}
			rt := result{filepath.Base(file), name + "/tcp", make(chan error, 1)}
			results = append(results, rt)
			srv := tcpAddrs[name]
			go func(enc protocol.Encoding) { rt.err <- runVector(srv.addr, srv.tcp, v, enc) }(enc)
		}
	}
	for _, r := range results {
		t.Run(r.file+"/"+r.encoding, func(t *testing.T) {
			if err := <-r.err; err != nil {
				t.Fatalf("vector %s (%s), %v", r.file, r.encoding, err)
			}
		})
	}
}
