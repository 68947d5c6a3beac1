// Package conformance runs one suite of AWS calls, through the AWS SDK for
// Go v2, against the keywarden sandbox (internal/awsemu) and against moto,
// and checks the same observable results on both. Where moto departs from
// AWS's documented behaviour the sandbox follows AWS; every such difference
// is listed once, in deviations_test.go, and the checks assert what each
// target must do.
//
// Run: go test ./internal/awsemu/conformance/ (moto needs python3 and the
// moto package; without them the moto half is skipped unless
// KEYWARDEN_REQUIRE_MOTO=1).
package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

func TestMain(m *testing.M) {
	code := m.Run()
	moto.StopShared()
	os.Exit(code)
}

const (
	region       = "us-east-1"
	spokeRole    = "KeywardenSpoke"
	externalID   = "keywarden-conformance-7f3a"
	sessionName  = "keywarden-conformance"
	adminUser    = "admin"
	mgmtEmail    = "aws-root@example.com"
	workloadsOU  = "Workloads"
	prodOU       = "Prod"
	motoBootAKID = "AKIAIOSFODNN7EXAMPLE" // any key: moto checks no signature
)

// memberSpec names the member accounts every target builds: member 0 under
// the Workloads OU, member 1 under Workloads/Prod.
var memberSpec = []struct{ name, email string }{
	{"dev", "aws-dev@example.com"},
	{"prod", "aws-prod@example.com"},
}

// target is one AWS look-alike with the same organization built in it:
//
//	Root (management account)
//	└── Workloads (member 0, "dev")
//	    └── Prod (member 1, "prod")
//
// The hub configuration signs with an IAM user's access key in the
// management account; member configurations assume KeywardenSpoke (which
// trusts the management account, with an ExternalId) in the member.
type target struct {
	name string
	url  string

	hub    aws.Config
	hubKey aws.Credentials // the admin user's long-term key

	mgmt    string   // management account ID
	members []string // member account IDs, see memberSpec
	rootID  string
	ouIDs   map[string]string // OU name → ID

	sb *awsemu.Sandbox // nil for moto

	deviating bool // the target shows the deviations of deviations_test.go
}

// targetKinds are the targets every check runs against, in order.
var targetKinds = []struct {
	name  string
	setup func(t *testing.T) *target
}{
	{"sandbox", newSandboxTarget},
	{"moto", newMotoTarget},
}

// forEachTarget runs check as a subtest for every target, each with a
// freshly built organization.
func forEachTarget(t *testing.T, check func(t *testing.T, tgt *target)) {
	t.Helper()
	for _, kind := range targetKinds {
		t.Run(kind.name, func(t *testing.T) {
			check(t, kind.setup(t))
		})
	}
}

// clientConfig is an aws.Config for url signed with creds: static
// credentials, us-east-1, no shared config files, and no retries, so that an
// error is seen as the server sent it.
func clientConfig(t *testing.T, url string, creds aws.CredentialsProvider) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(t.Context(),
		config.WithRegion(region),
		config.WithCredentialsProvider(creds),
		config.WithBaseEndpoint(url),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

func staticCreds(id, secret, token string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret, token)
}

// keyConfig is a configuration that signs with a long-term access key.
func (tgt *target) keyConfig(t *testing.T, id, secret string) aws.Config {
	return clientConfig(t, tgt.url, staticCreds(id, secret, ""))
}

func (tgt *target) iam(cfg aws.Config) *iam.Client { return iam.NewFromConfig(cfg) }
func (tgt *target) sts(cfg aws.Config) *sts.Client { return sts.NewFromConfig(cfg) }
func (tgt *target) orgs(cfg aws.Config) *organizations.Client {
	return organizations.NewFromConfig(cfg)
}

func (tgt *target) roleARN(account, role string) string {
	return "arn:aws:iam::" + account + ":role/" + role
}

// member returns a configuration acting in member i through AssumeRole on
// KeywardenSpoke with the ExternalId, as keywarden does.
func (tgt *target) member(t *testing.T, i int) aws.Config {
	t.Helper()
	provider := stscreds.NewAssumeRoleProvider(tgt.sts(tgt.hub), tgt.roleARN(tgt.members[i], spokeRole),
		func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = aws.String(externalID)
			o.RoleSessionName = sessionName
		})
	return clientConfig(t, tgt.url, aws.NewCredentialsCache(provider))
}

// newSandboxTarget builds the organization through the seeding API.
func newSandboxTarget(t *testing.T) *target {
	t.Helper()
	return newSandboxTargetWith(t, awsemu.Options{Seed: 1})
}

// newSandboxTargetWith is newSandboxTarget with sandbox options.
func newSandboxTargetWith(t *testing.T, opts awsemu.Options) *target {
	t.Helper()
	sb := awsemu.New(opts)
	mgmt := must[string](t, "add management account")(sb.AddAccount(awsemu.AccountSpec{Name: "management", Email: mgmtEmail}))
	if err := sb.AddUser(awsemu.UserSpec{Account: mgmt, Name: adminUser}); err != nil {
		t.Fatalf("add admin user: %v", err)
	}
	key := must[awsemu.Key](t, "add admin key")(sb.AddAccessKey(awsemu.KeySpec{Account: mgmt, User: adminUser}))
	root := must[string](t, "create organization")(sb.CreateOrganization(mgmt))
	ous := map[string]string{}
	ous[workloadsOU] = must[string](t, "add OU")(sb.AddOU(root, workloadsOU))
	ous[prodOU] = must[string](t, "add OU")(sb.AddOU(ous[workloadsOU], prodOU))
	parents := []string{ous[workloadsOU], ous[prodOU]}
	var members []string
	for i, m := range memberSpec {
		id := must[string](t, "add member account")(sb.AddAccount(awsemu.AccountSpec{Name: m.name, Email: m.email}))
		if err := sb.JoinOrganization(id, parents[i], time.Time{}); err != nil {
			t.Fatalf("join organization: %v", err)
		}
		if err := sb.AddRole(awsemu.RoleSpec{Account: id, Name: spokeRole,
			TrustedAccounts: []string{mgmt}, ExternalID: externalID}); err != nil {
			t.Fatalf("add role: %v", err)
		}
		members = append(members, id)
	}
	tgt := &target{
		name: "sandbox", url: newServer(t, sb), sb: sb,
		hubKey: aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey},
		mgmt:   mgmt, members: members, rootID: root, ouIDs: ous,
	}
	tgt.hub = tgt.keyConfig(t, key.AccessKeyID, key.SecretAccessKey)
	return tgt
}

// newServer serves h on 127.0.0.1 until t ends and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newMotoTarget builds the organization in the shared moto server through
// the APIs: an admin user and key in moto's default account, which then
// creates the organization, the member accounts and the OUs, and creates
// KeywardenSpoke in each member through OrganizationAccountAccessRole.
func newMotoTarget(t *testing.T) *target {
	t.Helper()
	srv := moto.Shared(t)
	ctx := t.Context()
	tgt := &target{name: "moto", url: srv.URL, ouIDs: map[string]string{}, deviating: true}

	boot := iam.NewFromConfig(clientConfig(t, srv.URL, staticCreds(motoBootAKID, "bootstrap-secret", "")))
	if _, err := boot.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(adminUser)}); err != nil {
		t.Fatalf("moto setup: create admin user: %v", err)
	}
	ak, err := boot.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(adminUser)})
	if err != nil {
		t.Fatalf("moto setup: create admin key: %v", err)
	}
	tgt.hubKey = aws.Credentials{AccessKeyID: *ak.AccessKey.AccessKeyId, SecretAccessKey: *ak.AccessKey.SecretAccessKey}
	tgt.hub = tgt.keyConfig(t, tgt.hubKey.AccessKeyID, tgt.hubKey.SecretAccessKey)

	org := tgt.orgs(tgt.hub)
	created, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatalf("moto setup: create organization: %v", err)
	}
	tgt.mgmt = aws.ToString(created.Organization.MasterAccountId)
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("moto setup: list roots: %v (%d roots)", err, len(roots.Roots))
	}
	tgt.rootID = aws.ToString(roots.Roots[0].Id)
	parent := tgt.rootID
	for _, name := range []string{workloadsOU, prodOU} {
		ou, err := org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{
			Name: aws.String(name), ParentId: aws.String(parent)})
		if err != nil {
			t.Fatalf("moto setup: create OU %s: %v", name, err)
		}
		tgt.ouIDs[name] = aws.ToString(ou.OrganizationalUnit.Id)
		parent = tgt.ouIDs[name]
	}
	parents := []string{tgt.ouIDs[workloadsOU], tgt.ouIDs[prodOU]}
	for i, m := range memberSpec {
		id, err := moto.CreateAccount(ctx, org, m.name, m.email)
		if err != nil {
			t.Fatalf("moto setup: %v", err)
		}
		if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id),
			SourceParentId: aws.String(tgt.rootID), DestinationParentId: aws.String(parents[i])}); err != nil {
			t.Fatalf("moto setup: move account %s: %v", id, err)
		}
		tgt.members = append(tgt.members, id)
		if err := createSpokeRole(ctx, t, tgt, id); err != nil {
			t.Fatalf("moto setup: %v", err)
		}
	}
	return tgt
}

// createSpokeRole creates KeywardenSpoke in a member, acting through the
// OrganizationAccountAccessRole that Organizations creates in new accounts.
func createSpokeRole(ctx context.Context, t *testing.T, tgt *target, account string) error {
	provider := stscreds.NewAssumeRoleProvider(tgt.sts(tgt.hub), tgt.roleARN(account, "OrganizationAccountAccessRole"))
	admin := tgt.iam(clientConfig(t, tgt.url, aws.NewCredentialsCache(provider)))
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
		`"Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole",`+
		`"Condition":{"StringEquals":{"sts:ExternalId":%q}}}]}`, tgt.mgmt, externalID)
	if _, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(spokeRole),
		AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		return fmt.Errorf("create role %s in %s: %w", spokeRole, account, err)
	}
	return nil
}

// must returns a function that fails t when err is not nil and returns v
// otherwise: must[string](t, "op")(f()).
func must[T any](t *testing.T, op string) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		return v
	}
}

// loner returns a configuration for an account that belongs to no
// organization: a new account with an admin user key in the sandbox; in
// moto, which checks no trust policy, a role session in an unused account.
func (tgt *target) loner(t *testing.T) aws.Config {
	t.Helper()
	if tgt.sb != nil {
		id := must[string](t, "add account")(tgt.sb.AddAccount(awsemu.AccountSpec{Name: "loner"}))
		if err := tgt.sb.AddUser(awsemu.UserSpec{Account: id, Name: adminUser}); err != nil {
			t.Fatalf("add user: %v", err)
		}
		key := must[awsemu.Key](t, "add key")(tgt.sb.AddAccessKey(awsemu.KeySpec{Account: id, User: adminUser}))
		return tgt.keyConfig(t, key.AccessKeyID, key.SecretAccessKey)
	}
	if !tgt.deviates(assumeRoleUnchecked) {
		t.Fatalf("%s: no way to reach an account outside the organization", tgt.name)
	}
	provider := stscreds.NewAssumeRoleProvider(tgt.sts(tgt.hub), tgt.roleARN("210987654321", "AnyRole"))
	return clientConfig(t, tgt.url, aws.NewCredentialsCache(provider))
}
