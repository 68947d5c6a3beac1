package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release version, set at build time with
//
//	go build -ldflags "-X github.com/keywarden/keywarden/internal/cli.version=v1.2.3" ./cmd/keywarden
//
// When it is empty, buildVersion falls back to the module version the Go
// toolchain recorded.
var version string

// VersionOptions are the flags of "keywarden version".
type VersionOptions struct {
	JSON bool // --json
}

func newVersionCommand() *cobra.Command {
	var opts VersionOptions
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the keywarden version",
		Long: `Print the keywarden version, the Go version it was built with and the
platform it runs on, as one line:

  keywarden v1.2.3 (go1.26.8, linux/amd64)

With --json, print them as a JSON object (schema in docs/scripting.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(opts, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON object instead of a line")
	return cmd
}

// versionJSON is the output of "keywarden version --json".
type versionJSON struct {
	SchemaVersion int    `json:"schema_version"`
	Version       string `json:"version"`
	Go            string `json:"go"`
	Platform      string `json:"platform"`
}

func runVersion(opts VersionOptions, w io.Writer) error {
	v := versionJSON{
		SchemaVersion: 1,
		Version:       buildVersion(),
		Go:            runtime.Version(),
		Platform:      runtime.GOOS + "/" + runtime.GOARCH,
	}
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprintf(w, "keywarden %s (%s, %s)\n", v.Version, v.Go, v.Platform)
	return err
}

// buildVersion returns the version set with -ldflags, else the main module
// version recorded in the binary (a tag, or a pseudo-version from VCS), else
// "devel".
// Version is keywarden's version: a release tag, a Go pseudo-version, or
// "devel".
func Version() string { return buildVersion() }

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "devel"
}
