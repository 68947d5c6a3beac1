package inventory_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// Where moto 5.2.1 departs from AWS in what a scan reads (see
// internal/awsemu/conformance/deviations_test.go for the full list):
//
//   - the credential report has no <root_account> row, so the report path
//     knows nothing of root keys beyond GetAccountSummary;
//   - GetCredentialReport's GeneratedTime is always 2015-02-02T20:02:02Z;
//   - the report's last-used region and service are not_supported;
//   - ListUsers ignores MaxItems; AssumeRole checks nothing (so the spoke
//     role is created for realism only);
//   - IAM timestamps carry microseconds: compared to the second here.
var motoReportGeneratedTime = time.Date(2015, 2, 2, 20, 2, 2, 0, time.UTC)

// motoConfig is a configuration for the moto server, built as keywarden
// builds its own.
func motoConfig(t *testing.T, url string, creds aws.CredentialsProvider) aws.Config {
	t.Helper()
	cfg, err := awsx.Load(context.Background(), awsx.Options{
		Region: "us-east-1", Endpoint: url, Credentials: creds, MaxBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("load AWS configuration: %v", err)
	}
	return cfg
}

// motoOrg is an organization built in moto through the AWS APIs, with the
// access keys created in each account.
type motoOrg struct {
	url  string
	hub  aws.Config
	mgmt string
	// keys[account][user] are the keys created, oldest first; a user without
	// keys has an empty list.
	keys map[string]map[string][]keyView
}

// newMotoOrg builds, in a fresh moto: an admin user and key in moto's
// default account, which creates the organization, an OU and two member
// accounts (one moved into the OU), the spoke role in each member through
// OrganizationAccountAccessRole, and users with keys in all three accounts.
func newMotoOrg(t *testing.T) *motoOrg {
	t.Helper()
	srv := moto.Start(t)
	ctx := t.Context()
	m := &motoOrg{url: srv.URL, keys: map[string]map[string][]keyView{}}

	boot := iam.NewFromConfig(motoConfig(t, srv.URL, credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "bootstrap", "")))
	if _, err := boot.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("keywarden-admin")}); err != nil {
		t.Fatalf("create admin user: %v", err)
	}
	ak, err := boot.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("keywarden-admin")})
	if err != nil {
		t.Fatalf("create admin key: %v", err)
	}
	m.hub = motoConfig(t, srv.URL, credentials.NewStaticCredentialsProvider(
		aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), ""))

	org := organizations.NewFromConfig(m.hub)
	created, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	m.mgmt = aws.ToString(created.Organization.MasterAccountId)
	m.keys[m.mgmt] = map[string][]keyView{"keywarden-admin": {motoKey(ak.AccessKey)}}
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("list roots: %v (%d roots)", err, len(roots.Roots))
	}
	rootID := aws.ToString(roots.Roots[0].Id)
	ou, err := org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{
		Name: aws.String("Workloads"), ParentId: aws.String(rootID)})
	if err != nil {
		t.Fatalf("create OU: %v", err)
	}
	var members []string
	for i, name := range []string{"dev", "prod"} {
		id, err := moto.CreateAccount(ctx, org, name, "aws-"+name+"@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id),
				SourceParentId: aws.String(rootID), DestinationParentId: ou.OrganizationalUnit.Id}); err != nil {
				t.Fatalf("move account %s: %v", id, err)
			}
		}
		members = append(members, id)
		m.keys[id] = map[string][]keyView{}
	}

	// Users and keys: in the management account as the admin, in the
	// members through OrganizationAccountAccessRole.
	stsc := sts.NewFromConfig(m.hub)
	for _, id := range append([]string{m.mgmt}, members...) {
		client := iam.NewFromConfig(m.hub)
		if id != m.mgmt {
			provider := stscreds.NewAssumeRoleProvider(stsc, "arn:aws:iam::"+id+":role/OrganizationAccountAccessRole")
			client = iam.NewFromConfig(motoConfig(t, srv.URL, aws.NewCredentialsCache(provider)))
			trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
				`"Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, m.mgmt)
			if _, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(testRole),
				AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
				t.Fatalf("create role %s in %s: %v", testRole, id, err)
			}
		}
		for _, u := range []struct {
			name, path string
			keys       []iamtypes.StatusType // status of each key to create
		}{
			{"alice", "/", []iamtypes.StatusType{iamtypes.StatusTypeActive}},
			{"bob", "/", []iamtypes.StatusType{iamtypes.StatusTypeInactive, iamtypes.StatusTypeActive}},
			{"carol", "/", nil},
			{"svc-" + id[len(id)-4:], "/service/", []iamtypes.StatusType{iamtypes.StatusTypeActive, iamtypes.StatusTypeActive}},
		} {
			if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u.name), Path: aws.String(u.path)}); err != nil {
				t.Fatalf("create user %s in %s: %v", u.name, id, err)
			}
			m.keys[id][u.name] = []keyView{}
			for _, status := range u.keys {
				out, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u.name)})
				if err != nil {
					t.Fatalf("create key for %s in %s: %v", u.name, id, err)
				}
				if status != iamtypes.StatusTypeActive {
					if _, err := client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(u.name),
						AccessKeyId: out.AccessKey.AccessKeyId, Status: status}); err != nil {
						t.Fatalf("deactivate key of %s in %s: %v", u.name, id, err)
					}
					out.AccessKey.Status = status
				}
				m.keys[id][u.name] = append(m.keys[id][u.name], motoKey(out.AccessKey))
			}
		}
	}
	return m
}

func motoKey(k *iamtypes.AccessKey) keyView {
	return keyView{ID: aws.ToString(k.AccessKeyId), Status: string(k.Status), Created: aws.ToTime(k.CreateDate).UTC().Truncate(time.Second)}
}

// TestScanMoto scans an organization built in moto through the AWS APIs,
// on both paths: every key created is found, nothing else is, and the two
// paths agree on everything both can know.
func TestScanMoto(t *testing.T) {
	m := newMotoOrg(t)
	ctx := t.Context()

	sel, err := inventory.Discover(ctx, organizations.NewFromConfig(m.hub), m.mgmt, inventory.Selection{Organization: true})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	var ids []string
	for _, a := range sel.Accounts {
		ids = append(ids, a.ID)
		if a.State != "ACTIVE" || a.Name == "" || a.OUPath == "" {
			t.Errorf("account %+v: want an ACTIVE account with its name and OU path", a)
		}
	}
	if len(ids) != 3 || len(sel.Skipped) != 0 {
		t.Fatalf("Discover: accounts %v, skipped %v; want the 3 accounts of the organization", ids, sel.Skipped)
	}

	scan := func(opts inventory.Options) map[string]inventory.AccountInventory {
		assumer := awsx.NewAssumer(m.hub, awsx.AssumerOptions{RoleName: testRole, SessionName: awsx.SessionName("test", "moto")})
		inv, err := inventory.Scan(ctx, sel.Accounts, configFor(m.hub, m.mgmt, assumer), opts)
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		return byID(inv)
	}
	report := scan(inventory.Options{Source: inventory.SourceReport, NeedKeyIDs: inventory.AllKeyIDs})
	api := scan(inventory.Options{Source: inventory.SourceAPI})

	// What is compared with what was created: users, key IDs, statuses and
	// creation to the second.
	created := viewOpts{ids: true}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			var want []userView
			for name, keys := range m.keys[id] {
				want = append(want, userView{Name: name, Keys: keys})
			}
			slices.SortFunc(want, func(a, b userView) int { return strings.Compare(a.Name, b.Name) })
			for _, path := range []struct {
				name string
				ai   inventory.AccountInventory
			}{{"report", report[id]}, {"api", api[id]}} {
				ai := path.ai
				if ai.Status != inventory.AccountOK || string(ai.Source) != path.name || ai.Fallback != "" {
					t.Errorf("%s path: status %s, source %s, fallback %q, error %s: want ok from the %[1]s",
						path.name, ai.Status, ai.Source, ai.Fallback, ai.Error)
					continue
				}
				got := viewUsers(ai, created)
				if diff := cmp.Diff(want, got, cmpViews...); diff != "" {
					t.Errorf("%s path: users and keys (-created +scanned):\n%s", path.name, diff)
				}
				if len(ai.Warnings) != 0 {
					t.Errorf("%s path: warnings %q", path.name, ai.Warnings)
				}
			}

			// Both paths against each other: users with their path and ARN;
			// keys with last use to the second (moto's report has
			// no last-use service or region).
			// The hub admin's key signs the scan itself, and moto records
			// every use: its last use moves on between the two scans.
			both := viewOpts{ids: true, details: true, lastDate: true}
			fromAPI, fromReport := viewUsers(api[id], both), viewUsers(report[id], both)
			for _, users := range [][]userView{fromAPI, fromReport} {
				for i := range users {
					if users[i].Name == "keywarden-admin" && len(users[i].Keys) == 1 {
						if users[i].Keys[0].LastUsed.IsZero() {
							t.Errorf("admin key %s: no last use", users[i].Keys[0].ID)
						}
						users[i].Keys[0].LastUsed = time.Time{}
					}
				}
			}
			if diff := cmp.Diff(fromAPI, fromReport, cmpViews...); diff != "" {
				t.Errorf("report path differs from the API path (-api +report):\n%s", diff)
			}

			// moto's deviations, as the report path sees them.
			r := report[id]
			if !r.ReportGeneratedAt.Equal(motoReportGeneratedTime) {
				t.Errorf("report generated at %v, want moto's fixed %v", r.ReportGeneratedAt, motoReportGeneratedTime)
			}
			if len(r.Root.Keys) != 0 {
				t.Errorf("root keys %+v from a report without a root row", r.Root.Keys)
			}
			for _, u := range r.Users {
				for _, k := range u.Keys {
					if k.LastUsedService != "" || k.LastUsedRegion != "" {
						t.Errorf("report path: key %s last used with %q in %q; moto's report says not_supported", k.ID, k.LastUsedService, k.LastUsedRegion)
					}
				}
			}
			if id == m.mgmt {
				for _, u := range viewUsers(api[id], apiView) {
					if u.Name == "keywarden-admin" && (len(u.Keys) != 1 || u.Keys[0].Service == "") {
						t.Errorf("API path: admin keys %+v, want one key with its last-use service", u.Keys)
					}
				}
			}
		})
	}
}
