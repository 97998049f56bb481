// Command configref writes docs/CONFIG.md, the configuration reference,
// from the config package's structs, their doc comments and
// config.Default(). It reads Go sources with go/parser, which the server
// never needs, so it is a generator rather than part of the config package.
// The config package runs it:
//
//	go generate ./config
//
// and a test here fails when the committed file is stale.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the module's root directory, whose sources are read")
	out := flag.String("o", "", "the file to write (default: "+referencePath+" under -root)")
	flag.Parse()
	if *out == "" {
		*out = filepath.Join(*root, filepath.FromSlash(referencePath))
	}
	if err := write(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "configref:", err)
		os.Exit(1)
	}
}

// write generates the reference from the sources under root into path.
func write(root, path string) error {
	b, err := reference(root)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
