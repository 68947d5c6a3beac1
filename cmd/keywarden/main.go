// Command keywarden keeps AWS IAM access keys healthy across an AWS
// Organization. The commands live in internal/cli; this file only runs
// them, or, started by the AWS Lambda runtime (AWS_LAMBDA_RUNTIME_API is
// set), the Lambda handler (internal/lambda).
package main

import (
	"os"

	"github.com/keywarden/keywarden/internal/cli"
	"github.com/keywarden/keywarden/internal/lambda"
)

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		lambda.Start(cli.Version())
		return
	}
	os.Exit(cli.Main())
}
