package client_test

import (
	"path/filepath"
	"testing"
)

// TestConformance runs every conformance vector (conformance/vectors) in
// every encoding it lists, against a herald serve --config
// conformance/server.yaml per encoding: a vector expects fresh channels, so
// its run in one encoding must not see what its run in the other left.
// Vectors use channels and users of their own, so they run in parallel;
// subtests are named by file and encoding
// (TestConformance/020-subscribe-publish.json/protobuf).
func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(conformanceDir, "vectors", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s (%v)", conformanceDir, err)
	}
	addrs := map[string]string{"json": conformanceServer(t), "protobuf": conformanceServer(t)}
	for _, file := range files {
		v, err := readVector(file)
		if err != nil {
			t.Error(err)
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			for _, name := range v.Encodings {
				enc, err := encodingNamed(name)
				if err != nil {
					t.Fatal(err)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					if err := runVector(addrs[name], v, enc); err != nil {
						t.Fatalf("vector %s (%s), %v", filepath.Base(file), name, err)
					}
				})
			}
		})
	}
}
