package awsemu_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// fixture is a small organization: a hub with an admin user and two members
// with a spoke role that trusts the hub.
type fixture struct {
	sb      *awsemu.Sandbox
	url     string
	hub     string
	members []string
	admin   awsemu.Key
	rootID  string
}

const spokeRole = "KeywardenSpoke"

func newFixture(t *testing.T, opts awsemu.Options) *fixture {
	t.Helper()
	sb := awsemu.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	f := &fixture{sb: sb, url: srv.URL}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	f.hub, err = sb.AddAccount(awsemu.AccountSpec{ID: "100000000001", Name: "hub", Email: "hub@example.com"})
	must(err)
	must(sb.AddUser(awsemu.UserSpec{Account: f.hub, Name: "admin"}))
	f.admin, err = sb.AddAccessKey(awsemu.KeySpec{Account: f.hub, User: "admin"})
	must(err)
	f.rootID, err = sb.CreateOrganization(f.hub)
	must(err)
	ou, err := sb.AddOU(f.rootID, "Workloads")
	must(err)
	for _, id := range []string{"200000000001", "200000000002"} {
		_, err := sb.AddAccount(awsemu.AccountSpec{ID: id, Name: "member-" + id, Email: id + "@example.com"})
		must(err)
		must(sb.JoinOrganization(id, ou, time.Time{}))
		must(sb.AddRole(awsemu.RoleSpec{Account: id, Name: spokeRole, TrustedAccounts: []string{f.hub}, ExternalID: "ext-123"}))
		f.members = append(f.members, id)
	}
	return f
}

func (f *fixture) config(t *testing.T, k awsemu.Key) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("eu-west-1"),
		config.WithBaseEndpoint(f.url),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (f *fixture) member(t *testing.T, hub aws.Config, id string) aws.Config {
	cfg := hub.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(hub),
		"arn:aws:iam::"+id+":role/"+spokeRole, func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String("ext-123") }))
	return cfg
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSmoke(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 1})
	ctx := context.Background()
	hub := f.config(t, f.admin)
	id, err := sts.NewFromConfig(hub).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Account != f.hub || *id.Arn != "arn:aws:iam::100000000001:user/admin" {
		t.Fatalf("identity %s %s", *id.Account, *id.Arn)
	}
	m := f.member(t, hub, f.members[0])
	mi := iam.NewFromConfig(m)
	if _, err := mi.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	k, err := mi.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mi.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil || len(keys.AccessKeyMetadata) != 1 || *keys.AccessKeyMetadata[0].AccessKeyId != *k.AccessKey.AccessKeyId {
		t.Fatalf("list keys: %v %+v", err, keys)
	}
	if _, err := mi.GenerateCredentialReport(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := mi.GetCredentialReport(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", rep.Content)
	orgs := organizations.NewFromConfig(hub)
	accts, err := orgs.ListAccounts(ctx, &organizations.ListAccountsInput{})
	if err != nil || len(accts.Accounts) != 3 {
		t.Fatalf("accounts: %v %d", err, len(accts.Accounts))
	}
	t.Logf("%+v", accts.Accounts[1].Paths)
	_, err = iam.NewFromConfig(f.member(t, hub, "200000000003")).ListUsers(ctx, nil)
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("assume into unknown account: %v", err)
	}
}
