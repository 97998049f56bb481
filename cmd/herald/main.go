// Command herald is Herald's single binary: the server and its tools.
//
//	herald serve [--config FILE] [--dev]   run the server
//	herald connect URL                     an interactive protocol client
//	herald publish CHANNEL DATA            publish through the server API
//	herald api METHOD [JSON]               call any server API method
//	herald token --user U                  mint a token for testing
//	herald config init|check              write or validate a config file
//	herald version, herald --version       print the version and commit
//	herald health [--url URL]              probe /healthz (the image's HEALTHCHECK)
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald: a real-time messaging server",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints what `herald version` prints.
		Version: versionText(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.AddCommand(serveCommand(), connectCommand(), publishCommand(), apiCommand(), tokenCommand(), configCommand(), newVersionCommand(), benchCommand(), healthCommand())
	if err := root.Execute(); err != nil {
		// Library errors already say "herald: "; say it once.
		fmt.Fprintln(os.Stderr, "herald:", strings.TrimPrefix(err.Error(), "herald: "))
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}
