package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

var asOf = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func ago(days int) time.Time { return asOf.Add(-time.Duration(days) * 24 * time.Hour) }

func agoPlus(days int, d time.Duration) time.Time { return ago(days).Add(d) }

const (
	acct   = "111111111111"
	ouProd = "ou-ab12-prod0001"
	rootID = "r-ab12"
)

// one builds an inventory of one account holding one user with keys.
func one(u inventory.User) *inventory.Inventory {
	if u.Name == "" {
		u.Name = "alice"
	}
	u.ARN = "arn:aws:iam::" + acct + ":user" + u.Path + u.Name
	for i := range u.Keys {
		if u.Keys[i].ID == "" {
			u.Keys[i].ID = fmt.Sprintf("AKIAKEY%013d", i+1)
		}
	}
	return &inventory.Inventory{Accounts: []inventory.AccountInventory{{
		Account: inventory.Account{ID: acct, Name: "prod", OUIDs: []string{rootID, ouProd}},
		Status:  inventory.AccountOK, Users: []inventory.User{u},
	}}}
}

func active(created, used time.Time) inventory.Key {
	return inventory.Key{Status: inventory.StatusActive, CreatedAt: created, LastUsedAt: used}
}

func inactive(created, used time.Time) inventory.Key {
	return inventory.Key{Status: inventory.StatusInactive, CreatedAt: created, LastUsedAt: used}
}

// verdict is what a test expects of a finding: "rule:stage", with "!" for exempt.
func verdicts(fs []policy.Finding) []string {
	var out []string
	for _, f := range fs {
		v := string(f.Rule) + ":" + string(f.Stage)
		if f.Exempt {
			v += "!"
		}
		out = append(out, v)
	}
	return out
}

func dur(s string) *policy.Duration {
	d, err := policy.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &d
}

// cleanup is the default policy with inactive_cleanup enabled.
func cleanup() *policy.Policy {
	p := policy.Default()
	c := p.Rules[policy.InactiveCleanup]
	t := true
	c.Enabled = &t
	p.Rules[policy.InactiveCleanup] = c
	return p
}

// staged is a policy with every stage of the keyed rules set, for edges.
func staged() *policy.Policy {
	p := policy.Default()
	p.Rules[policy.MaxAge] = policy.RuleConfig{Severity: policy.SeverityMedium, Thresholds: policy.Thresholds{
		Warn: dur("80d"), Rotate: dur("90d"), Deactivate: dur("100d"), Delete: dur("110d")}}
	p.Rules[policy.Unused] = policy.RuleConfig{Severity: policy.SeverityMedium, Thresholds: policy.Thresholds{
		Warn: dur("30d"), Deactivate: dur("45d"), Delete: dur("90d")}}
	t := true
	p.Rules[policy.InactiveCleanup] = policy.RuleConfig{Enabled: &t, Severity: policy.SeverityLow, Thresholds: policy.Thresholds{Delete: dur("30d")}}
	return p
}

func TestRules(t *testing.T) {
	hour := time.Hour
	tests := []struct {
		name   string
		policy *policy.Policy
		user   inventory.User
		want   []string
	}{
		// max_age edges, key used yesterday so that unused stays quiet.
		{"max_age a day before the threshold", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(89), ago(1))}}, nil},
		{"max_age exactly at the threshold", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(90), ago(1))}}, []string{"max_age:rotate"}},
		{"max_age an hour before the threshold", policy.Default(), inventory.User{Keys: []inventory.Key{active(agoPlus(90, hour), ago(1))}}, nil},
		{"max_age a day after", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(91), ago(1))}}, []string{"max_age:rotate"}},
		{"max_age highest stage reached", staged(), inventory.User{Keys: []inventory.Key{active(ago(105), ago(1))}}, []string{"max_age:deactivate"}},
		{"max_age warn stage", staged(), inventory.User{Keys: []inventory.Key{active(ago(80), ago(1))}}, []string{"max_age:warn"}},
		{"max_age delete stage", staged(), inventory.User{Keys: []inventory.Key{active(ago(400), ago(1))}}, []string{"max_age:delete"}},
		{"max_age ignores inactive keys", policy.Default(), inventory.User{Keys: []inventory.Key{inactive(ago(400), ago(1))}}, nil},

		// unused: idle since the later of last use and creation.
		{"unused a day before", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(60), ago(44))}}, nil},
		{"unused exactly at 45 days", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(60), ago(45))}}, []string{"unused:deactivate"}},
		{"unused a day after", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(60), ago(46))}}, []string{"unused:deactivate"}},
		{"unused warn before deactivate", staged(), inventory.User{Keys: []inventory.Key{active(ago(60), ago(31))}}, []string{"unused:warn"}},
		{"never used counts from creation", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(50), time.Time{})}},
			[]string{"unused:deactivate", "unused_initial:deactivate"}},
		{"unused ignores inactive keys", policy.Default(), inventory.User{Keys: []inventory.Key{inactive(ago(60), ago(59))}}, nil},

		// unused_initial: a grace period for a fresh key.
		{"unused_initial within its grace", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(6), time.Time{})}}, nil},
		{"unused_initial exactly at 7 days", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(7), time.Time{})}}, []string{"unused_initial:deactivate"}},
		{"unused_initial not for a used key", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(30), ago(29))}}, nil},

		// multiple_active: the less recently used key.
		{"two active keys", policy.Default(), inventory.User{Keys: []inventory.Key{active(ago(30), ago(1)), active(ago(10), ago(2))}},
			[]string{"multiple_active:report"}},
		{"one active one inactive", policy.Default(), inventory.User{Keys: []inventory.Key{inactive(ago(30), ago(20)), active(ago(10), ago(2))}}, nil},

		// inactive_cleanup: off by default; when on, estimated from last use.
		{"inactive cleanup off by default", policy.Default(), inventory.User{Keys: []inventory.Key{inactive(ago(400), ago(300))}}, nil},
		{"inactive cleanup at 30 days", cleanup(), inventory.User{Keys: []inventory.Key{inactive(ago(400), ago(30))}}, []string{"inactive_cleanup:delete"}},
		{"inactive cleanup a day before", cleanup(), inventory.User{Keys: []inventory.Key{inactive(ago(400), ago(29))}}, nil},

		// A deactivated key stays judged for the delete stage only.
		{"inactive key at max_age delete", staged(), inventory.User{Keys: []inventory.Key{inactive(ago(111), ago(20))}}, []string{"max_age:delete"}},
		{"inactive key before max_age delete", staged(), inventory.User{Keys: []inventory.Key{inactive(ago(105), ago(20))}}, nil},
		{"inactive key at unused delete", staged(), inventory.User{Keys: []inventory.Key{inactive(ago(100), ago(95))}}, []string{"unused:delete", "inactive_cleanup:delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verdicts(tt.policy.Evaluate(one(tt.user), policy.Options{AsOf: asOf}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMultipleActivePicksLessUsedKey(t *testing.T) {
	inv := one(inventory.User{Keys: []inventory.Key{active(ago(30), ago(1)), active(ago(10), ago(5))}})
	p := policy.Default()
	cfg := p.Rules[policy.MultipleActive]
	cfg.Action = policy.ActionDeactivateLessUsed
	p.Rules[policy.MultipleActive] = cfg
	fs := p.Evaluate(inv, policy.Options{AsOf: asOf})
	if len(fs) != 1 || fs[0].AccessKeyID != "AKIAKEY0000000000002" || fs[0].Stage != policy.StageDeactivate {
		t.Fatalf("want the second key (used 5 days ago) at deactivate, got %+v", fs)
	}
}

// The key multiple_active deactivates is the least used: a never-used key
// ranks below any used key, whatever their creation dates.
func TestMultipleActiveRanking(t *testing.T) {
	p := policy.Default()
	cfg := p.Rules[policy.MultipleActive]
	cfg.Action = policy.ActionDeactivateLessUsed
	p.Rules[policy.MultipleActive] = cfg
	tests := []struct {
		name string
		keys []inventory.Key
		want string
	}{
		{"never used, newer", []inventory.Key{active(ago(30), ago(6)), active(ago(2), time.Time{})}, "AKIAKEY0000000000002"},
		{"never used, older", []inventory.Key{active(ago(2), ago(6)), active(ago(30), time.Time{})}, "AKIAKEY0000000000002"},
		{"both used", []inventory.Key{active(ago(30), ago(1)), active(ago(10), ago(6))}, "AKIAKEY0000000000002"},
		{"both never used: the older", []inventory.Key{active(ago(3), time.Time{}), active(ago(5), time.Time{})}, "AKIAKEY0000000000002"},
		{"same last use: the older", []inventory.Key{active(ago(40), ago(6)), active(ago(50), ago(6))}, "AKIAKEY0000000000002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range p.Evaluate(one(inventory.User{Keys: tt.keys}), policy.Options{AsOf: asOf}) {
				if f.Rule == policy.MultipleActive {
					got = append(got, f.AccessKeyID)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("multiple_active flagged %v, want [%s]", got, tt.want)
			}
		})
	}
}

func TestNextStage(t *testing.T) {
	inv := one(inventory.User{Keys: []inventory.Key{active(ago(85), ago(1))}})
	fs := staged().Evaluate(inv, policy.Options{AsOf: asOf})
	if len(fs) != 1 {
		t.Fatalf("want one finding, got %v", verdicts(fs))
	}
	f := fs[0]
	if f.Stage != policy.StageWarn || f.NextStage != policy.StageRotate || !f.NextStageAt.Equal(ago(85).Add(90*24*time.Hour)) {
		t.Fatalf("stage %s next %s at %v", f.Stage, f.NextStage, f.NextStageAt)
	}
	if !f.DueAt.Equal(ago(85).Add(80 * 24 * time.Hour)) {
		t.Fatalf("due at %v", f.DueAt)
	}
	if !strings.Contains(f.Message, "85 days old") {
		t.Fatalf("message %q", f.Message)
	}
	// At the last stage there is no next one.
	fs = staged().Evaluate(one(inventory.User{Keys: []inventory.Key{active(ago(200), ago(1))}}), policy.Options{AsOf: asOf})
	if fs[0].NextStage != "" || !fs[0].NextStageAt.IsZero() {
		t.Fatalf("delete stage has a next stage: %s %v", fs[0].NextStage, fs[0].NextStageAt)
	}
}

func TestRootKeys(t *testing.T) {
	inv := &inventory.Inventory{Accounts: []inventory.AccountInventory{
		{Account: inventory.Account{ID: "111111111111"}, Status: inventory.AccountOK,
			Root: inventory.Root{KeysPresent: true, Keys: []inventory.Key{{Slot: 1, Status: inventory.StatusActive, CreatedAt: ago(900)}}}},
		{Account: inventory.Account{ID: "222222222222"}, Status: inventory.AccountOK, Root: inventory.Root{KeysPresent: true}},
		{Account: inventory.Account{ID: "333333333333"}, Status: inventory.AccountOK},
		{Account: inventory.Account{ID: "444444444444"}, Status: inventory.AccountFailed,
			Root: inventory.Root{KeysPresent: true}},
	}}
	fs := policy.Default().Evaluate(inv, policy.Options{AsOf: asOf})
	var got []string
	for _, f := range fs {
		got = append(got, f.AccountID+":"+string(f.Rule)+":"+string(f.Severity)+":"+f.UserName)
	}
	want := []string{"111111111111:root_key:critical:<root_account>", "222222222222:root_key:critical:<root_account>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestExemptions(t *testing.T) {
	old := []inventory.Key{active(ago(200), ago(1))}
	base := inventory.User{Name: "svc-legacy-vendor", Path: "/service/", Groups: []string{"ci"},
		Tags: inventory.Tags{{Key: "keywarden-exempt", Value: "true"}, {Key: "team", Value: "payments"}}, Keys: old}
	day := func(s string) *policy.Date {
		d, err := policy.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	tests := []struct {
		name string
		ex   policy.Exemption
		want []string
	}{
		{"user glob", policy.Exemption{Users: []string{"svc-legacy-*"}, Reason: "vendor"}, []string{"max_age:rotate!"}},
		{"glob that does not match", policy.Exemption{Users: []string{"svc-new-*"}, Reason: "x"}, []string{"max_age:rotate"}},
		{"account and rule", policy.Exemption{Accounts: []string{acct}, Rules: []policy.RuleName{policy.MaxAge}, Reason: "x"}, []string{"max_age:rotate!"}},
		{"other rule only", policy.Exemption{Accounts: []string{acct}, Rules: []policy.RuleName{policy.Unused}, Reason: "x"}, []string{"max_age:rotate"}},
		{"every criterion must match", policy.Exemption{Accounts: []string{acct}, Users: []string{"nobody"}, Reason: "x"}, []string{"max_age:rotate"}},
		{"tag", policy.Exemption{Tags: map[string]string{"keywarden-exempt": "true"}, Reason: "owner-managed"}, []string{"max_age:rotate!"}},
		{"tag any value", policy.Exemption{Tags: map[string]string{"team": "*"}, Reason: "x"}, []string{"max_age:rotate!"}},
		{"tag wrong value", policy.Exemption{Tags: map[string]string{"team": "search"}, Reason: "x"}, []string{"max_age:rotate"}},
		{"path glob", policy.Exemption{Paths: []string{"/service/*"}, Reason: "x"}, []string{"max_age:rotate!"}},
		{"group", policy.Exemption{Groups: []string{"admins", "ci"}, Reason: "x"}, []string{"max_age:rotate!"}},
		{"parent OU", policy.Exemption{OUs: []string{rootID}, Reason: "x"}, []string{"max_age:rotate!"}},
		{"expires today: still applies", policy.Exemption{Users: []string{"svc-*"}, Reason: "x", Expires: day("2026-11-22")}, []string{"max_age:rotate!"}},
		{"expired yesterday: a finding of its own", policy.Exemption{Users: []string{"svc-*"}, Reason: "x", Expires: day("2026-11-21")},
			[]string{"max_age:rotate", "exemption_expired:report"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy.Default()
			tt.ex.Line = 7
			p.Exemptions = []policy.Exemption{tt.ex}
			fs := p.Evaluate(one(base), policy.Options{AsOf: asOf})
			if diff := cmp.Diff(tt.want, verdicts(fs)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			for _, f := range fs {
				if f.Exempt && (f.ExemptionReason != tt.ex.Reason || f.ExemptionSource != "policy:7") {
					t.Errorf("exempt finding without its reason and source: %+v", f)
				}
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	key := inventory.User{Keys: []inventory.Key{active(ago(50), ago(1))}} // 50 days old
	ov := func(line int, accounts, ous []string, rotate string) policy.Override {
		return policy.Override{Line: line, Accounts: accounts, OUs: ous,
			Rules: map[policy.RuleName]policy.RuleConfig{policy.MaxAge: {Thresholds: policy.Thresholds{Rotate: dur(rotate)}}}}
	}
	tests := []struct {
		name      string
		overrides []policy.Override
		want      []string
		source    string
	}{
		{"global only", nil, nil, ""},
		{"OU override applies", []policy.Override{ov(3, nil, []string{ouProd}, "30d")}, []string{"max_age:rotate"}, "OU " + ouProd},
		{"account beats OU", []policy.Override{ov(3, []string{acct}, nil, "60d"), ov(9, nil, []string{ouProd}, "30d")}, nil, "account " + acct},
		{"nearer OU beats root", []policy.Override{ov(3, nil, []string{ouProd}, "60d"), ov(9, nil, []string{rootID}, "30d")}, nil, "OU " + ouProd},
		{"other account untouched", []policy.Override{ov(3, []string{"999999999999"}, nil, "30d")}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy.Default()
			p.Overrides = tt.overrides
			if diff := cmp.Diff(tt.want, verdicts(p.Evaluate(one(key), policy.Options{AsOf: asOf}))); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			eff := p.Effective(acct, []string{rootID, ouProd})
			srcs := eff.Sources[policy.MaxAge]
			last := ""
			if len(srcs) > 0 {
				last = srcs[len(srcs)-1]
			}
			if !strings.Contains(last, tt.source) || (tt.source == "" && last != "") {
				t.Fatalf("last source %q, want it to name %q", last, tt.source)
			}
		})
	}
}

func TestFailedAccountsAreNotJudged(t *testing.T) {
	inv := one(inventory.User{Keys: []inventory.Key{active(ago(500), time.Time{})}})
	inv.Accounts[0].Status = inventory.AccountFailed
	if fs := policy.Default().Evaluate(inv, policy.Options{AsOf: asOf}); len(fs) != 0 {
		t.Fatalf("findings from a failed account: %v", verdicts(fs))
	}
}

// TestPartialAccountsAreJudged: the keys of an account read in part are
// judged (their findings are real), but root keys that could not be
// checked make no finding either way, and cannot be explained.
func TestPartialAccountsAreJudged(t *testing.T) {
	inv := one(inventory.User{Keys: []inventory.Key{active(ago(500), ago(1))}})
	a := &inv.Accounts[0]
	a.Status, a.NotRead, a.Root = inventory.AccountPartial, "root access keys", inventory.Root{KeysUnknown: true}
	a.Error, a.ErrorCode = "root access keys not checked: GetAccountSummary: AccessDenied: denied", "AccessDenied"
	p := policy.Default()
	fs := p.Evaluate(inv, policy.Options{AsOf: asOf})
	if got := verdicts(fs); !cmp.Equal(got, []string{"max_age:rotate"}) {
		t.Fatalf("findings %v, want the old key's max_age and no root_key", got)
	}
	if _, err := p.Explain(*a, "alice", "", policy.Options{AsOf: asOf}); err != nil {
		t.Errorf("Explain of a user read from a partial account: %v", err)
	}
	if _, err := p.Explain(*a, policy.RootUserName, "", policy.Options{AsOf: asOf}); err == nil || !strings.Contains(err.Error(), "root access keys not checked") {
		t.Errorf("Explain of the unchecked root user: %v, want an error saying why", err)
	}
}

func TestInactiveSinceFromJournal(t *testing.T) {
	inv := one(inventory.User{Keys: []inventory.Key{inactive(ago(400), ago(300))}})
	since := func(account, key string) (time.Time, bool) { return ago(10), true }
	fs := cleanup().Evaluate(inv, policy.Options{AsOf: asOf, InactiveSince: since})
	if len(fs) != 0 {
		t.Fatalf("deactivated 10 days ago by keywarden: want no finding before 30 days, got %v", verdicts(fs))
	}
	fs = cleanup().Evaluate(inv, policy.Options{AsOf: asOf})
	if len(fs) != 1 || !fs[0].Estimated {
		t.Fatalf("without the journal: want one estimated finding, got %+v", fs)
	}
}

func TestEveryFindingCarriesControls(t *testing.T) {
	inv := one(inventory.User{Keys: []inventory.Key{active(ago(200), time.Time{}), active(ago(100), ago(60))}})
	inv.Accounts[0].Root = inventory.Root{KeysPresent: true}
	for _, f := range policy.Default().Evaluate(inv, policy.Options{AsOf: asOf}) {
		if len(f.Controls) == 0 {
			t.Errorf("%s finding without controls", f.Rule)
		}
	}
}
