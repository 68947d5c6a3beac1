// Command keywarden keeps AWS IAM access keys healthy across an AWS
// Organization. The commands live in internal/cli; this file only runs them.
package main

import (
	"os"

	"github.com/keywarden/keywarden/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
