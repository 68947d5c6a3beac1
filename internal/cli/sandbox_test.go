package cli

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestSandboxServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	opts := SandboxOptions{Addr: "127.0.0.1:0", Seed: 3, Accounts: 3, UsersPerAccount: 5,
		RoleName: "KeywardenSpoke", ThrottleBurst: 10}
	go func() {
		done <- runSandbox(ctx, opts, nil, outW, &stderr)
		outW.Close()
	}()

	env := map[string]string{}
	sc := bufio.NewScanner(outR)
	for sc.Scan() && len(env) < 4 {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	go io.Copy(io.Discard, outR)
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		if env[k] == "" {
			t.Fatalf("no export of %s; got %v", k, env)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env["AWS_REGION"]), config.WithBaseEndpoint(env["AWS_ENDPOINT_URL"]),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")))
	if err != nil {
		t.Fatal(err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(id.Arn), ":user/keywarden-admin") {
		t.Errorf("caller %s, want the hub admin", aws.ToString(id.Arn))
	}
	accts, err := organizations.NewFromConfig(cfg).ListAccounts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(accts.Accounts) != 4 {
		t.Errorf("%d accounts, want 4 (management + 3)", len(accts.Accounts))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sandbox returned %v after Ctrl-C, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sandbox did not stop after its context was cancelled")
	}
	if !strings.Contains(stderr.String(), "organization of 4 accounts") {
		t.Errorf("stderr lacks the organization summary:\n%s", stderr.String())
	}
}

func TestSandboxOptionsValidate(t *testing.T) {
	good := SandboxOptions{Addr: "127.0.0.1:0", Accounts: 5, UsersPerAccount: 20, ThrottleBurst: 10}
	tests := []struct {
		name   string
		change func(*SandboxOptions)
		flag   string
	}{
		{"defaults", func(*SandboxOptions) {}, ""},
		{"non-loopback address", func(o *SandboxOptions) { o.Addr = "0.0.0.0:4566" }, "--addr"},
		{"address without port", func(o *SandboxOptions) { o.Addr = "127.0.0.1" }, "--addr"},
		{"error rate above 1", func(o *SandboxOptions) { o.ErrorRate = 1.5 }, "--error-rate"},
		{"more unassumable than accounts", func(o *SandboxOptions) { o.Unassumable = 6 }, "--unassumable"},
		{"negative latency", func(o *SandboxOptions) { o.Latency = -time.Second }, "--latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.change(&o)
			err := o.validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("got %v, want a usage error naming %s", err, tt.flag)
			}
		})
	}
}
