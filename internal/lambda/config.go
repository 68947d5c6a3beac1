package lambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keywarden/keywarden/internal/policy"
)

// Environment variables the function reads.
const (
	// EnvConfig names the policy: a file (relative to the package), an
	// s3://bucket/key object, or an SSM parameter (ssm:/name or ssm:name).
	// Unset: keywarden.yaml in the package if present, else the built-in
	// policy.
	EnvConfig = "KEYWARDEN_CONFIG"
	// EnvState names the state store: dynamodb://TABLE, or a file path
	// (only /tmp is writable in Lambda, and it does not last: use DynamoDB).
	EnvState = "KEYWARDEN_STATE"
	// EnvExternalID is the external ID the spoke roles require, if any.
	EnvExternalID = "KEYWARDEN_EXTERNAL_ID"
	// EnvHubViaRole, "true", reads and acts in the function's own account
	// through the spoke roles too, so that the function's role needs no
	// IAM permissions of its own (the deploy templates set it).
	EnvHubViaRole = "KEYWARDEN_HUB_VIA_ROLE"
)

// loadPolicy reads the policy EnvConfig names.
func loadPolicy(ctx context.Context, cfg aws.Config, spec, packageDir string) (*policy.Policy, error) {
	switch {
	case spec == "":
		return policy.LoadDefault("", packageDir)
	case strings.HasPrefix(spec, "s3://"):
		bucket, key, ok := strings.Cut(strings.TrimPrefix(spec, "s3://"), "/")
		if !ok || bucket == "" || key == "" {
			return nil, fmt.Errorf("%s %q: want s3://BUCKET/KEY", EnvConfig, spec)
		}
		out, err := s3.NewFromConfig(cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("read the policy %s: %w", spec, err)
		}
		defer out.Body.Close()
		data, err := io.ReadAll(io.LimitReader(out.Body, policy.MaxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("read the policy %s: %w", spec, err)
		}
		return policy.Parse(spec, data)
	case strings.HasPrefix(spec, "ssm:"):
		name := strings.TrimPrefix(strings.TrimPrefix(spec, "ssm:"), "//")
		if name == "" {
			return nil, fmt.Errorf("%s %q: want ssm:/PARAMETER", EnvConfig, spec)
		}
		out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read the policy %s: %w", spec, err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return nil, fmt.Errorf("read the policy %s: the parameter has no value", spec)
		}
		return policy.Parse(spec, []byte(*out.Parameter.Value))
	}
	path := spec
	if !filepath.IsAbs(path) {
		path = filepath.Join(packageDir, path)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s %q: no such file in the function's package (%s)", EnvConfig, spec, packageDir)
	}
	return policy.Load(path)
}
