package policy_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
)

// cisKey is an access key as the sandbox was told to create it: the
// ground truth of the CIS check.
type cisKey struct {
	account, user, id string // user "" for the root user
	active            bool
	created, lastUsed time.Time // lastUsed zero: never used
}

// cisFindings computes, from the ground truth alone, what the CIS AWS
// Foundations Benchmark (v1.4.0–v4.0.1 numbering) flags as of now, plus
// keywarden's unused_initial, each as "account user key rule":
//
//   - 1.14: an active key created 90 days ago or more;
//   - 1.12: an active key whose last use (its creation if never used) is 45
//     days ago or more;
//   - 1.13: a user with more than one active key, reported on the key to
//     deactivate: the one used less recently (the older on a tie);
//   - 1.4: an active root access key;
//   - unused_initial: an active key never used, created 7 days ago or more.
//
// A threshold reached exactly counts. Keys of accounts not in accounts are
// left out.
//
// With rootSummary, 1.4 is judged as the API path can, from the account
// summary's AccountAccessKeysPresent alone: once per account whose root
// user has any key, active or not (CIS's command-line audit does the same,
// and warns that an inactive key makes it a false positive).
func cisFindings(keys []cisKey, accounts map[string]bool, now time.Time, rootSummary bool) []string {
	const day = 24 * time.Hour
	var out []string
	rootSeen := map[string]bool{}
	add := func(k cisKey, rule policy.RuleName) {
		user, id := k.user, k.id
		if user == "" {
			user, id = policy.RootUserName, ""
		}
		out = append(out, strings.Join([]string{k.account, user, id, string(rule)}, " "))
	}
	lastActivity := func(k cisKey) time.Time {
		if k.lastUsed.IsZero() {
			return k.created
		}
		return k.lastUsed
	}
	byUser := map[string][]cisKey{}
	for _, k := range keys {
		if !accounts[k.account] {
			continue
		}
		if k.user == "" && rootSummary {
			if !rootSeen[k.account] {
				rootSeen[k.account] = true
				add(k, policy.RootKey) // 1.4, from the account summary
			}
			continue
		}
		if !k.active {
			continue
		}
		if k.user == "" {
			add(k, policy.RootKey) // 1.4
			continue
		}
		if now.Sub(k.created) >= 90*day {
			add(k, policy.MaxAge) // 1.14
		}
		if now.Sub(lastActivity(k)) >= 45*day {
			add(k, policy.Unused) // 1.12
		}
		if k.lastUsed.IsZero() && now.Sub(k.created) >= 7*day {
			add(k, policy.UnusedInitial)
		}
		byUser[k.account+"/"+k.user] = append(byUser[k.account+"/"+k.user], k)
	}
	for _, ks := range byUser {
		if len(ks) < 2 { // 1.13
			continue
		}
		// The least used: never used ranks below any use.
		less := ks[0]
		for _, k := range ks[1:] {
			switch {
			case k.lastUsed.IsZero() != less.lastUsed.IsZero():
				if k.lastUsed.IsZero() {
					less = k
				}
			case k.lastUsed.Before(less.lastUsed) || (k.lastUsed.Equal(less.lastUsed) && k.created.Before(less.created)):
				less = k
			}
		}
		add(less, policy.MultipleActive)
	}
	slices.Sort(out)
	return out
}

// cisControl is the CIS v1.4.0–v4.0.1 recommendation each rule maps to.
var cisControl = map[policy.RuleName]string{
	policy.MaxAge: "1.14", policy.Unused: "1.12", policy.MultipleActive: "1.13",
	policy.RootKey: "1.4", policy.UnusedInitial: "1.11",
}

// TestDefaultsFlagWhatCISFlags scans the sandbox's generated organization
// and judges it with the default policy, as a plain `keywarden scan` does,
// and checks that the findings are exactly what the CIS recommendations
// flag, computed from what the generator created. Keys exactly at each
// threshold and a second short of it are added, and a root key that is
// inactive.
func TestDefaultsFlagWhatCISFlags(t *testing.T) {
	clock := awsemu.NewClock()
	clock.Freeze() // now is the same for the generator, the sandbox and the policy
	sb := awsemu.New(awsemu.Options{Seed: 7, Clock: clock})
	var truth []cisKey
	record := func(s awsemu.KeySpec) {
		truth = append(truth, cisKey{account: s.Account, user: s.User, id: s.ID,
			active: s.Status != awsemu.StatusInactive, created: s.CreatedAt, lastUsed: s.LastUsed})
	}
	org, err := orggen.Generate(sb, orggen.Options{Seed: 23, Accounts: 8, UsersPerAccount: 30, OnKey: record})
	if err != nil {
		t.Fatal(err)
	}
	now := org.Now

	active := map[string]bool{}
	var members []orggen.Account
	for _, a := range org.Accounts {
		if a.State == awsemu.AccountActive {
			active[a.ID] = true
			if !a.Management {
				members = append(members, a)
			}
		}
	}
	if len(active) == len(org.Accounts) {
		t.Fatal("no suspended account in the generated organization: nothing checks they are left out")
	}

	// The edges, in the first active member account.
	edge := members[0].ID
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	const day = 24 * time.Hour
	type keyAt struct {
		inactive       bool
		created, usedT time.Duration // ages; usedT 0: never used
	}
	for _, u := range []struct {
		name string
		keys []keyAt
	}{
		{"edge-age-90d", []keyAt{{false, 90 * day, time.Hour}}},
		{"edge-age-90d-less-1s", []keyAt{{false, 90*day - time.Second, time.Hour}}},
		{"edge-idle-45d", []keyAt{{false, 60 * day, 45 * day}}},
		{"edge-idle-45d-less-1s", []keyAt{{false, 60 * day, 45*day - time.Second}}},
		{"edge-never-7d", []keyAt{{false, 7 * day, 0}}},
		{"edge-never-7d-less-1s", []keyAt{{false, 7*day - time.Second, 0}}},
		{"edge-never-45d", []keyAt{{false, 45 * day, 0}}},
		{"edge-two-same-use", []keyAt{{false, 10 * day, time.Hour}, {false, 5 * day, time.Hour}}},
		{"edge-two-new-one-idle", []keyAt{{false, 20 * day, time.Hour}, {false, 3 * day, 0}}},
		{"edge-one-active-one-inactive", []keyAt{{true, 200 * day, 150 * day}, {false, 30 * day, time.Hour}}},
		{"edge-inactive-old", []keyAt{{true, 400 * day, 0}}},
	} {
		if err := sb.AddUser(awsemu.UserSpec{Account: edge, Name: u.name, CreatedAt: ago(500 * day)}); err != nil {
			t.Fatal(err)
		}
		for _, k := range u.keys {
			spec := awsemu.KeySpec{Account: edge, User: u.name, Status: awsemu.StatusActive, CreatedAt: ago(k.created)}
			if k.inactive {
				spec.Status = awsemu.StatusInactive
			}
			if k.usedT != 0 {
				spec.LastUsed, spec.LastUsedService = ago(k.usedT), "s3"
			}
			created, err := sb.AddAccessKey(spec)
			if err != nil {
				t.Fatal(err)
			}
			spec.ID = created.AccessKeyID
			record(spec)
		}
	}
	// An inactive root key, in an active member account without one: CIS
	// 1.4 passes an account whose root keys are all inactive.
	for _, a := range members {
		if a.RootKeys == 0 {
			spec := awsemu.KeySpec{Account: a.ID, Status: awsemu.StatusInactive, CreatedAt: ago(400 * day)}
			created, err := sb.AddAccessKey(spec)
			if err != nil {
				t.Fatal(err)
			}
			spec.ID = created.AccessKeyID
			record(spec)
			break
		}
	}

	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	ctx := t.Context()
	hub := awstest.Config(t, srv.URL, org.AdminKey.AccessKeyID, org.AdminKey.SecretAccessKey)
	sel, err := inventory.Discover(ctx, organizations.NewFromConfig(hub), org.ManagementAccount, inventory.Selection{Organization: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Accounts) != len(active) || len(sel.Skipped) != len(org.Accounts)-len(active) {
		t.Fatalf("discovered %d accounts and skipped %d; want the %d active ones and the others skipped", len(sel.Accounts), len(sel.Skipped), len(active))
	}

	pol := policy.Default()
	want := cisFindings(truth, active, now, false)
	wantMulti := map[string]bool{} // users with more than one active key, per CIS 1.13
	for _, w := range want {
		if f := strings.Split(w, " "); f[3] == string(policy.MultipleActive) {
			wantMulti[f[0]+" "+f[1]] = true
		}
	}
	for _, rule := range []policy.RuleName{policy.MaxAge, policy.Unused, policy.UnusedInitial, policy.MultipleActive, policy.RootKey} {
		if !slices.ContainsFunc(want, func(w string) bool { return strings.HasSuffix(w, " "+string(rule)) }) {
			t.Errorf("the organization gives CIS nothing to flag for %s", rule)
		}
	}

	tests := []struct {
		name string
		opts inventory.Options
	}{
		{"report path, every key ID", inventory.Options{Source: inventory.SourceReport, NeedKeyIDs: inventory.AllKeyIDs}},
		// What a plain `keywarden scan` reads: the key IDs of the keys the
		// policy flags now or within two weeks.
		{"report path, key IDs needing attention", inventory.Options{Source: inventory.SourceReport,
			NeedKeyIDsFor: func(a inventory.Account) inventory.NeedKeyIDs { return pol.NeedKeyIDs(a, 14*day) }}},
		{"API path", inventory.Options{Source: inventory.SourceAPI}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.AsOf = now
			inv, err := inventory.Scan(ctx, sel.Accounts, cisConfigFor(hub, org.ManagementAccount), opts)
			if err != nil {
				t.Fatal(err)
			}
			if failed := inv.Failed(); len(failed) != 0 {
				t.Fatalf("%d accounts failed, first %s: %s", len(failed), failed[0].Account.ID, failed[0].Error)
			}
			var got []string
			gotMulti := map[string]bool{}
			for _, f := range pol.Evaluate(inv, policy.Options{AsOf: now}) {
				got = append(got, strings.Join([]string{f.AccountID, f.UserName, f.AccessKeyID, string(f.Rule)}, " "))
				if f.UserName != policy.RootUserName && f.AccessKeyID == "" {
					t.Errorf("%s finding for %s in %s names no key", f.Rule, f.UserName, f.AccountID)
				}
				if f.Rule == policy.MultipleActive {
					gotMulti[f.AccountID+" "+f.UserName] = true
				}
				id := cisControl[f.Rule]
				if !slices.ContainsFunc(f.Controls, func(c policy.Control) bool {
					return c.Framework == policy.FrameworkCIS && c.Versions == "v1.4.0–v4.0.1" && c.ID == id
				}) {
					t.Errorf("%s finding does not map to CIS v1.4.0–v4.0.1 %s: %v", f.Rule, id, f.Controls)
				}
			}
			slices.Sort(got)
			want := want
			if opts.Source == inventory.SourceAPI {
				// The API path cannot list root keys: it knows from the
				// account summary only that there are some.
				want = cisFindings(truth, active, now, true)
			}
			if diff := cmp.Diff(wantMulti, gotMulti); diff != "" {
				t.Errorf("users with more than one active key (-CIS 1.13 +multiple_active):\n%s", diff)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("findings as of %v, account user key rule (-CIS +keywarden):\n%s", now, diff)
			}
			t.Logf("%d findings", len(got))
		})
	}
}

// cisConfigFor reads the management account with the hub's credentials
// and the members through the spoke role, as keywarden scan does.
func cisConfigFor(hub aws.Config, hubAccount string) inventory.ConfigFor {
	assumer := awsx.NewAssumer(hub, awsx.AssumerOptions{RoleName: orggen.DefaultRoleName, SessionName: awsx.SessionName("test", "cis")})
	return func(id string, counter *awsx.CallCounter) aws.Config {
		if id == hubAccount {
			cfg := hub.Copy()
			cfg.APIOptions = append(cfg.APIOptions, counter.APIOption)
			return cfg
		}
		return assumer.Config(id, counter)
	}
}
