package remediate_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// TestPlanNoActionFromPartialView reads an account of the sandbox from the
// IAM API, judges it and plans. With GetAccountSummary denied the account
// is partial: its old key is still found (the finding is real), but the
// plan acts on nothing in it, and lists the account with why, as it does
// for an account that failed.
func TestPlanNoActionFromPartialView(t *testing.T) {
	tests := []struct {
		name         string
		fault        *awsemu.Fault
		wantStatus   inventory.AccountStatus
		wantFindings bool
		wantActions  []string // with the key's user standing for its ID
		wantError    string
	}{
		{name: "read completely", wantStatus: inventory.AccountOK, wantFindings: true,
			wantActions: []string{"deactivate:alice"}},
		{name: "account summary denied", fault: &awsemu.Fault{Operation: "GetAccountSummary", Deny: true},
			wantStatus: inventory.AccountPartial, wantFindings: true, wantError: "root access keys not checked: GetAccountSummary: AccessDenied"},
		{name: "users denied", fault: &awsemu.Fault{Operation: "ListUsers", Deny: true},
			wantStatus: inventory.AccountFailed, wantError: "ListUsers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := awsemu.New(awsemu.Options{Seed: 5})
			account, err := sb.AddAccount(awsemu.AccountSpec{Name: "workloads"})
			if err != nil {
				t.Fatal(err)
			}
			now := sb.Clock().Now()
			keyOf := map[string]string{} // user name → key ID
			var operator awsemu.Key      // signs the scan
			for _, u := range []struct {
				name      string
				age, used time.Duration
			}{{"operator", 30 * oneDay, time.Hour}, {"alice", 105 * oneDay, 20 * oneDay}, {"bob", 20 * oneDay, oneDay}} {
				if err := sb.AddUser(awsemu.UserSpec{Account: account, Name: u.name, CreatedAt: now.Add(-u.age - oneDay)}); err != nil {
					t.Fatal(err)
				}
				k, err := sb.AddAccessKey(awsemu.KeySpec{Account: account, User: u.name, CreatedAt: now.Add(-u.age), LastUsed: now.Add(-u.used)})
				if err != nil {
					t.Fatal(err)
				}
				keyOf[u.name] = k.AccessKeyID
				if u.name == "operator" {
					operator = k
				}
			}
			srv := httptest.NewServer(sb)
			t.Cleanup(srv.Close)
			cfg, err := awsx.Load(context.Background(), awsx.Options{Region: awsemu.DefaultRegion, Endpoint: srv.URL, MaxBackoff: 50 * time.Millisecond,
				Credentials: credentials.NewStaticCredentialsProvider(operator.AccessKeyID, operator.SecretAccessKey, "")})
			if err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				f := *tt.fault
				f.Account = account
				sb.SetFaults(f)
			}
			inv, err := inventory.Scan(t.Context(), []inventory.Account{{ID: account, Name: "workloads"}},
				func(_ string, counter *awsx.CallCounter) aws.Config {
					c := cfg.Copy()
					c.APIOptions = append(c.APIOptions, counter.APIOption)
					return c
				}, inventory.Options{Source: inventory.SourceAPI})
			if err != nil {
				t.Fatal(err)
			}
			a := inv.Accounts[0]
			if a.Status != tt.wantStatus || !strings.Contains(a.Error, tt.wantError) {
				t.Fatalf("account read %s (%q), want %s saying %q", a.Status, a.Error, tt.wantStatus, tt.wantError)
			}

			pol := stagedPolicy()
			findings := pol.Evaluate(inv, policy.Options{AsOf: now})
			if got := len(findings) > 0; got != tt.wantFindings {
				t.Errorf("%d findings; want findings: %v", len(findings), tt.wantFindings)
			}
			pl, err := remediate.Make(t.Context(), remediate.Inputs{
				Inventory: inv, Findings: findings, Policy: pol, AsOf: now, Now: now,
				Caller: "arn:aws:iam::" + account + ":user/operator", CallerKeyID: operator.AccessKeyID, RunID: "test",
				DeactivatedAt: func(context.Context, string, string) (time.Time, bool, error) { return time.Time{}, false, nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, act := range pl.Actions {
				actions = append(actions, act.Type+":"+act.UserName)
				if act.AccessKeyID != keyOf[act.UserName] {
					t.Errorf("action %s on key %s, want %s", act.Type, act.AccessKeyID, keyOf[act.UserName])
				}
			}
			if strings.Join(actions, ",") != strings.Join(tt.wantActions, ",") {
				t.Errorf("actions %v, want %v", actions, tt.wantActions)
			}
			if tt.wantStatus != inventory.AccountOK && len(pl.Withheld) != 0 {
				t.Errorf("withheld %+v: an account not read completely is not judged for actions at all", pl.Withheld)
			}
			if len(pl.Accounts) != 1 || pl.Accounts[0].Status != string(tt.wantStatus) || !strings.Contains(pl.Accounts[0].Error, tt.wantError) {
				t.Errorf("plan accounts %+v, want %s listed as %s with why", pl.Accounts, account, tt.wantStatus)
			}
		})
	}
}
