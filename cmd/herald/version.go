package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildInfo is what `herald version` and `herald --version` report:
// enough to tell which source a running binary came from when a bug report
// arrives.
type buildInfo struct {
	// Version is main.version when set at build time with
	// -ldflags "-X main.version=v1.2.3"; else the module version the Go
	// toolchain stamped (v1.2.3 for go install ...@v1.2.3, a pseudo-version
	// for a build in a git checkout); else "dev".
	Version string `json:"version"`
	// Commit is the VCS revision the Go toolchain stamped into the binary
	// (absent for go run, -buildvcs=false, or a build outside a checkout).
	Commit string `json:"commit,omitempty"`
	// Modified reports uncommitted changes in the checkout at build time.
	Modified bool `json:"modified"`
	// Go is the toolchain that built the binary.
	Go string `json:"go"`
	// Engines are the broker engines compiled in: a lean build (tags
	// herald_noredis, herald_noembeddednats) leaves some out.
	Engines []string `json:"engines"`
}

// readBuildInfo combines the ldflags version with the toolchain's build
// settings; bi is nil when the binary carries none.
func readBuildInfo(version string, bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: version, Go: "unknown"}
	if bi == nil {
		return info
	}
	info.Go = bi.GoVersion
	if (version == "" || version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// currentBuild is this binary's buildInfo.
func currentBuild() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	info := readBuildInfo(version, bi)
	info.Engines = compiledEngines()
	return info
}

// writeText prints the human form: lines a reader can paste into a bug
// report.
func (b buildInfo) writeText(w io.Writer) error {
	commit := b.Commit
	switch {
	case commit == "":
		commit = "unknown (not stamped: built by go run, with -buildvcs=false, or outside a git checkout)"
	case b.Modified:
		commit += " (modified)"
	}
	_, err := fmt.Fprintf(w, "herald %s\ncommit %s\ngo     %s\nengines %s\n", b.Version, commit, b.Go, strings.Join(b.Engines, ", "))
	return err
}

// versionText is what --version prints, the same as `herald version`.
func versionText() string {
	var b strings.Builder
	_ = currentBuild().writeText(&b)
	return b.String()
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and broker engines (also: herald --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := currentBuild()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(info)
			}
			return info.writeText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object (version, commit, modified, go, engines)")
	return cmd
}
