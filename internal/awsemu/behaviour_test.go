package awsemu_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsemu"
)

func TestClock(t *testing.T) {
	c := awsemu.NewClock()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Freeze()
	c.Set(start)
	c.Advance(72 * time.Hour)
	if got := c.Now(); !got.Equal(start.Add(72 * time.Hour)) {
		t.Fatalf("frozen clock after Advance: %v", got)
	}
	c.Unfreeze()
	if got := c.Now(); got.Before(start.Add(72*time.Hour)) || got.After(start.Add(72*time.Hour+time.Minute)) {
		t.Fatalf("running clock: %v", got)
	}
}

func TestReportLifecycle(t *testing.T) {
	clock := awsemu.NewClock()
	clock.Freeze()
	clock.Set(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	f := newFixture(t, awsemu.Options{Seed: 2, Clock: clock, ReportInProgressPolls: 2})
	ctx := context.Background()
	c := iam.NewFromConfig(f.config(t, f.admin))

	_, err := c.GetCredentialReport(ctx, nil)
	var notPresent *types.CredentialReportNotPresentException
	if !errors.As(err, &notPresent) {
		t.Fatalf("before generation: want ReportNotPresent, got %v", err)
	}
	states := []types.ReportStateType{}
	for range 4 {
		out, err := c.GenerateCredentialReport(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, out.State)
		if len(states) == 1 {
			_, err := c.GetCredentialReport(ctx, nil)
			var notReady *types.CredentialReportNotReadyException
			if !errors.As(err, &notReady) {
				t.Fatalf("during generation: want ReportInProgress, got %v", err)
			}
		}
	}
	want := []types.ReportStateType{"STARTED", "INPROGRESS", "INPROGRESS", "COMPLETE"}
	if strings.Join(asStrings(states), ",") != strings.Join(asStrings(want), ",") {
		t.Fatalf("states %v, want %v", states, want)
	}
	rep, err := c.GetCredentialReport(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.GeneratedTime.Equal(clock.Now()) {
		t.Errorf("generated %v, want %v", rep.GeneratedTime, clock.Now())
	}
	// The snapshot does not see a user added afterwards.
	if err := f.sb.AddUser(awsemu.UserSpec{Account: f.hub, Name: "late"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Hour)
	if out, _ := c.GenerateCredentialReport(ctx, nil); out.State != "COMPLETE" {
		t.Fatalf("within 4h: state %s, want COMPLETE", out.State)
	}
	rep, _ = c.GetCredentialReport(ctx, nil)
	if strings.Contains(string(rep.Content), "late,") {
		t.Fatal("report within 4 hours shows a user created after it")
	}
	clock.Advance(time.Hour)
	_, err = c.GetCredentialReport(ctx, nil)
	var expired *types.CredentialReportExpiredException
	if !errors.As(err, &expired) {
		t.Fatalf("after 4h: want ReportExpired, got %v", err)
	}
	if out, _ := c.GenerateCredentialReport(ctx, nil); out.State != "STARTED" {
		t.Fatalf("after 4h: state %s, want STARTED", out.State)
	}
}

func asStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func TestKeyUseRecordedAndDeactivatedKeyRefused(t *testing.T) {
	clock := awsemu.NewClock()
	f := newFixture(t, awsemu.Options{Seed: 3, Clock: clock})
	ctx := context.Background()
	admin := iam.NewFromConfig(f.config(t, f.admin))
	if err := f.sb.AddUser(awsemu.UserSpec{Account: f.hub, Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	k, err := f.sb.AddAccessKey(awsemu.KeySpec{Account: f.hub, User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	bob := sts.NewFromConfig(f.config(t, k))
	if _, err := bob.GetCallerIdentity(ctx, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := f.sb.AccessKey(k.AccessKeyID)
	if st.LastUsed.IsZero() || st.LastUsedService != "sts" || st.LastUsedRegion != "eu-west-1" {
		t.Fatalf("after use: %+v", st)
	}
	first := st.LastUsed
	// A use within 15 minutes is not recorded; one after is.
	clock.Advance(10 * time.Minute)
	bob.GetCallerIdentity(ctx, nil)
	if st, _ := f.sb.AccessKey(k.AccessKeyID); !st.LastUsed.Equal(first) {
		t.Fatalf("use within 15 minutes moved last-used to %v", st.LastUsed)
	}
	clock.Advance(10 * time.Minute)
	bob.GetCallerIdentity(ctx, nil)
	if st, _ := f.sb.AccessKey(k.AccessKeyID); !st.LastUsed.After(first) {
		t.Fatalf("use after 15 minutes not recorded: %v", st.LastUsed)
	}

	if _, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"),
		AccessKeyId: aws.String(k.AccessKeyID), Status: types.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.GetCallerIdentity(ctx, nil); apiCode(err) != "InvalidClientTokenId" {
		t.Fatalf("deactivated key: want InvalidClientTokenId, got %v", err)
	}
	orgs := organizations.NewFromConfig(f.config(t, k))
	if _, err := orgs.DescribeOrganization(ctx, nil); apiCode(err) != "UnrecognizedClientException" {
		t.Fatalf("deactivated key on a JSON service: want UnrecognizedClientException, got %v", err)
	}
}

func TestSessionExpiresOnSandboxClock(t *testing.T) {
	clock := awsemu.NewClock()
	f := newFixture(t, awsemu.Options{Seed: 4, Clock: clock})
	ctx := context.Background()
	out, err := sts.NewFromConfig(f.config(t, f.admin)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + f.members[0] + ":role/" + spokeRole), RoleSessionName: aws.String("keywarden-test"),
		ExternalId: aws.String("ext-123"), DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config(t, awsemu.Key{})
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey,
			SessionToken: *out.Credentials.SessionToken}, nil
	})
	c := sts.NewFromConfig(cfg)
	id, err := c.GetCallerIdentity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::" + f.members[0] + ":assumed-role/" + spokeRole + "/keywarden-test"; *id.Arn != want {
		t.Fatalf("arn %s, want %s", *id.Arn, want)
	}
	clock.Advance(16 * time.Minute)
	if _, err := c.GetCallerIdentity(ctx, nil); apiCode(err) != "ExpiredToken" {
		t.Fatalf("after expiry: want ExpiredToken, got %v", err)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 5})
	ctx := context.Background()
	c := sts.NewFromConfig(f.config(t, f.admin))
	role := "arn:aws:iam::" + f.members[0] + ":role/" + spokeRole
	tests := []struct {
		name    string
		in      sts.AssumeRoleInput
		code    string
		setFail bool
	}{
		{"wrong external id", sts.AssumeRoleInput{RoleArn: aws.String(role), ExternalId: aws.String("wrong-id")}, "AccessDenied", false},
		{"missing external id", sts.AssumeRoleInput{RoleArn: aws.String(role)}, "AccessDenied", false},
		{"no such role", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + f.members[0] + ":role/Nope"), ExternalId: aws.String("ext-123")}, "AccessDenied", false},
		{"session name too short", sts.AssumeRoleInput{RoleArn: aws.String(role), ExternalId: aws.String("ext-123"), RoleSessionName: aws.String("x")}, "ValidationError", false},
		{"duration over role maximum", sts.AssumeRoleInput{RoleArn: aws.String(role), ExternalId: aws.String("ext-123"), DurationSeconds: aws.Int32(7200)}, "ValidationError", false},
		{"duration below 900", sts.AssumeRoleInput{RoleArn: aws.String(role), ExternalId: aws.String("ext-123"), DurationSeconds: aws.Int32(100)}, "ValidationError", false},
		{"unassumable account fault", sts.AssumeRoleInput{RoleArn: aws.String(role), ExternalId: aws.String("ext-123")}, "AccessDenied", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sb.SetFaults()
			if tt.setFail {
				f.sb.SetFaults(awsemu.Fault{Account: f.members[0], DenyAssumeRole: true})
			}
			in := tt.in
			if in.RoleSessionName == nil {
				in.RoleSessionName = aws.String("keywarden-test")
			}
			_, err := c.AssumeRole(ctx, &in)
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
}
