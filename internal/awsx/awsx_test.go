package awsx_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
)

func TestSessionName(t *testing.T) {
	tests := []struct{ command, run, want string }{
		{"scan", "20261122T010203Z-abc123", "keywarden-scan-20261122T010203Z-abc123"},
		{"apply", "run with spaces/slashes", "keywarden-apply-run-with-spaces-slashes"},
		{"scan", strings.Repeat("x", 80), ("keywarden-scan-" + strings.Repeat("x", 80))[:64]},
	}
	for _, tt := range tests {
		if got := awsx.SessionName(tt.command, tt.run); got != tt.want {
			t.Errorf("SessionName(%q, %q) = %q, want %q", tt.command, tt.run, got, tt.want)
		}
	}
}

// The assumer acts inside the member account, caches the session across
// configurations of the same account, and counts the calls it caused.
func TestAssumerActsInMemberAndCounts(t *testing.T) {
	sb := awsemu.New(awsemu.Options{Seed: 1})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	hub, _ := sb.AddAccount(awsemu.AccountSpec{ID: "100000000001"})
	sb.AddUser(awsemu.UserSpec{Account: hub, Name: "admin"})
	key, _ := sb.AddAccessKey(awsemu.KeySpec{Account: hub, User: "admin"})
	member, _ := sb.AddAccount(awsemu.AccountSpec{ID: "200000000001"})
	sb.AddRole(awsemu.RoleSpec{Account: member, Name: "KeywardenSpoke", TrustedAccounts: []string{hub}, ExternalID: "ext-1"})

	ctx := context.Background()
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	base, err := awsx.Load(ctx, awsx.Options{Endpoint: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if base.Region != awsx.DefaultRegion {
		t.Errorf("region %q, want the default %q", base.Region, awsx.DefaultRegion)
	}
	a := awsx.NewAssumer(base, awsx.AssumerOptions{RoleName: "KeywardenSpoke", ExternalID: "ext-1",
		SessionName: awsx.SessionName("scan", "test-run")})
	counter := &awsx.CallCounter{}
	id, err := sts.NewFromConfig(a.Config(member, counter)).GetCallerIdentity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::200000000001:assumed-role/KeywardenSpoke/keywarden-scan-test-run"; aws.ToString(id.Arn) != want {
		t.Fatalf("caller %s, want %s", aws.ToString(id.Arn), want)
	}
	if _, err := iam.NewFromConfig(a.Config(member, counter)).ListUsers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// One AssumeRole (the session is shared) and two calls.
	if got := counter.Calls(); got != 3 {
		t.Fatalf("counted %d calls, want 3 (AssumeRole, GetCallerIdentity, ListUsers)", got)
	}
	var assumes int
	for _, c := range sb.Calls() {
		if c.Operation == "AssumeRole" {
			assumes += c.Calls
		}
	}
	if assumes != 1 {
		t.Fatalf("sandbox saw %d AssumeRole calls, want 1", assumes)
	}
}

// TestRolesFollowThePartition: role ARNs are in the caller's partition.
func TestRolesFollowThePartition(t *testing.T) {
	tests := []struct{ caller, partition, role string }{
		{"arn:aws:iam::111111111111:user/ops", "aws", "arn:aws:iam::222222222222:role/KeywardenSpoke"},
		{"arn:aws-us-gov:sts::111111111111:assumed-role/hub/s", "aws-us-gov", "arn:aws-us-gov:iam::222222222222:role/KeywardenSpoke"},
		{"arn:aws-cn:iam::111111111111:user/ops", "aws-cn", "arn:aws-cn:iam::222222222222:role/KeywardenSpoke"},
		{"not-an-arn", "aws", "arn:aws:iam::222222222222:role/KeywardenSpoke"},
	}
	for _, tt := range tests {
		p := awsx.PartitionOf(tt.caller)
		if p != tt.partition {
			t.Errorf("PartitionOf(%q) = %q, want %q", tt.caller, p, tt.partition)
		}
		a := awsx.NewAssumer(aws.Config{}, awsx.AssumerOptions{RoleName: "KeywardenSpoke", Partition: p})
		if got := a.RoleARN("222222222222"); got != tt.role {
			t.Errorf("role for %q: %s, want %s", tt.caller, got, tt.role)
		}
	}
}
