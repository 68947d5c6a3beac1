package remediate_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

var asOf = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func ago(days int) time.Time { return asOf.Add(-time.Duration(days) * 24 * time.Hour) }

func dur(s string) *policy.Duration {
	d, err := policy.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &d
}

// stagedPolicy deactivates at 100 days and deletes at 110, unused at 45/90.
func stagedPolicy() *policy.Policy {
	p := policy.Default()
	p.Rules[policy.MaxAge] = policy.RuleConfig{Severity: policy.SeverityMedium, Thresholds: policy.Thresholds{
		Warn: dur("80d"), Rotate: dur("90d"), Deactivate: dur("100d"), Delete: dur("110d")}}
	p.Rules[policy.Unused] = policy.RuleConfig{Severity: policy.SeverityMedium, Thresholds: policy.Thresholds{
		Deactivate: dur("45d"), Delete: dur("90d")}}
	p.Safety.ProtectedUsers = []string{"break-glass-*"}
	return p
}

type userKeys struct {
	name string
	keys []inventory.Key
}

func key(id, status string, created, used time.Time) inventory.Key {
	return inventory.Key{ID: id, Status: status, CreatedAt: created, LastUsedAt: used}
}

func inventoryOf(status inventory.AccountStatus, users ...userKeys) *inventory.Inventory {
	a := inventory.AccountInventory{Account: inventory.Account{ID: "111111111111"}, Status: status}
	for _, u := range users {
		a.Users = append(a.Users, inventory.User{Name: u.name, Keys: u.keys})
	}
	return &inventory.Inventory{Accounts: []inventory.AccountInventory{a}}
}

// plan makes a plan; deactivated says when keywarden deactivated keys.
func plan(t *testing.T, p *policy.Policy, inv *inventory.Inventory, callerKey string, deactivated map[string]time.Time) *remediate.Plan {
	t.Helper()
	findings := p.Evaluate(inv, policy.Options{AsOf: asOf, InactiveSince: func(_, k string) (time.Time, bool) {
		at, ok := deactivated[k]
		return at, ok
	}})
	pl, err := remediate.Make(context.Background(), remediate.Inputs{
		Inventory: inv, Findings: findings, Policy: p, AsOf: asOf, Now: asOf, Caller: "arn:aws:iam::999999999999:user/hub",
		CallerKeyID: callerKey, RunID: "test",
		DeactivatedAt: func(_ context.Context, _, k string) (time.Time, bool, error) {
			at, ok := deactivated[k]
			return at, ok, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// outline is "type:key" for actions and "guard:key" for withheld ones.
func outline(pl *remediate.Plan) (actions, withheld []string) {
	for _, a := range pl.Actions {
		actions = append(actions, a.Type+":"+a.AccessKeyID)
	}
	for _, w := range pl.Withheld {
		withheld = append(withheld, w.Guard+":"+w.AccessKeyID)
	}
	return actions, withheld
}

func TestPlanGuards(t *testing.T) {
	const A, I = inventory.StatusActive, inventory.StatusInactive
	tests := []struct {
		name         string
		users        []userKeys
		callerKey    string
		deactivated  map[string]time.Time
		wantActions  []string
		wantWithheld []string
	}{
		{"deactivate an old key", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(105), ago(3))}}}, "", nil,
			[]string{"deactivate:K1"}, nil},
		{"warn stage notifies", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(85), ago(3))}}}, "", nil,
			[]string{"notify:K1"}, nil},
		{"protected user", []userKeys{{"break-glass-admin", []inventory.Key{key("K1", A, ago(105), ago(3))}}}, "", nil,
			nil, []string{"protected-user:K1"}},
		{"own key", []userKeys{{"hub", []inventory.Key{key("K1", A, ago(105), ago(3))}}}, "K1", nil,
			nil, []string{"own-key:K1"}},
		{"used within the recent-use guard", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(105), asOf.Add(-time.Hour))}}}, "", nil,
			nil, []string{"recent-use:K1"}},
		{"recent use does not stop the unused rule", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(60), ago(50))}}}, "", nil,
			[]string{"deactivate:K1"}, nil},
		{"never delete an active key: deactivate first", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(200), ago(3))}}}, "", nil,
			[]string{"deactivate:K1"}, nil},
		{"delete after the delay", []userKeys{{"alice", []inventory.Key{key("K1", I, ago(200), ago(150))}}}, "",
			map[string]time.Time{"K1": ago(11)}, []string{"delete:K1"}, nil},
		{"delete waits for the delay", []userKeys{{"alice", []inventory.Key{key("K1", I, ago(200), ago(150))}}}, "",
			map[string]time.Time{"K1": ago(3)}, nil, []string{"delete-delay:K1"}},
		{"no delete without a recorded deactivation", []userKeys{{"alice", []inventory.Key{key("K1", I, ago(200), ago(150))}}}, "", nil,
			nil, []string{"deactivation-date-unknown:K1"}},
		{"key ID not read", []userKeys{{"alice", []inventory.Key{key("", A, ago(105), ago(3))}}}, "", nil,
			nil, []string{"key-id-unknown:"}},
		{"one action per key, the strongest", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(105), ago(60))}}}, "", nil,
			[]string{"deactivate:K1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := plan(t, stagedPolicy(), inventoryOf(inventory.AccountOK, tt.users...), tt.callerKey, tt.deactivated)
			actions, withheld := outline(pl)
			if diff := cmp.Diff(tt.wantActions, actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWithheld, withheld); diff != "" {
				t.Errorf("withheld (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanRecordsTheKeyStateAndRules(t *testing.T) {
	pl := plan(t, stagedPolicy(), inventoryOf(inventory.AccountOK,
		userKeys{"alice", []inventory.Key{key("K1", inventory.StatusActive, ago(105), ago(60))}}), "", nil)
	if len(pl.Actions) != 1 {
		t.Fatalf("actions %v", pl.Actions)
	}
	a := pl.Actions[0]
	if a.Key.Status != "Active" || !a.Key.CreatedAt.Equal(ago(105)) || a.Key.LastUsedAt == nil || !a.Key.LastUsedAt.Equal(ago(60)) {
		t.Errorf("key state %+v", a.Key)
	}
	if diff := cmp.Diff([]string{"max_age", "unused"}, a.Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if a.ID == "" || pl.PolicyHash != stagedPolicy().Hash {
		t.Errorf("action ID %q, policy hash %q", a.ID, pl.PolicyHash)
	}
	if !pl.Changes() || pl.Summary().Deactivate != 1 {
		t.Errorf("summary %+v", pl.Summary())
	}
}

func TestPlanNoActionForFailedAccount(t *testing.T) {
	inv := inventoryOf(inventory.AccountFailed, userKeys{"alice", []inventory.Key{key("K1", inventory.StatusActive, ago(300), time.Time{})}})
	pl := plan(t, stagedPolicy(), inv, "", nil)
	if len(pl.Actions) != 0 || len(pl.Accounts) != 1 || pl.Accounts[0].Status != "failed" {
		t.Fatalf("plan from a failed account: %+v", pl)
	}
}

func TestPlanExemptFindingsAreNotActedOn(t *testing.T) {
	p := stagedPolicy()
	p.Exemptions = []policy.Exemption{{Users: []string{"alice"}, Reason: "vendor", Line: 3}}
	pl := plan(t, p, inventoryOf(inventory.AccountOK, userKeys{"alice", []inventory.Key{key("K1", inventory.StatusActive, ago(300), ago(200))}}), "", nil)
	if len(pl.Actions) != 0 {
		t.Fatalf("acted on an exempt key: %+v", pl.Actions)
	}
}

func TestPlanLimits(t *testing.T) {
	var users []userKeys
	for i := range 8 {
		users = append(users, userKeys{fmt.Sprintf("user%d", i), []inventory.Key{key(fmt.Sprintf("K%d", i), inventory.StatusActive, ago(105), ago(3))}})
	}
	tests := []struct {
		name       string
		maxActions int
		fraction   float64
		exceeded   bool
	}{
		{"within the limits", 50, 1, false},
		{"over max_actions", 5, 1, true},
		{"over the account fraction", 50, 0.5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stagedPolicy()
			p.Safety.MaxActions, p.Safety.MaxAccountFraction = tt.maxActions, tt.fraction
			pl := plan(t, p, inventoryOf(inventory.AccountOK, users...), "", nil)
			if pl.Limits.Exceeded != tt.exceeded || (tt.exceeded && len(pl.Limits.Reasons) == 0) {
				t.Fatalf("limits %+v, want exceeded=%v", pl.Limits, tt.exceeded)
			}
			if len(pl.Actions) != 8 {
				t.Fatalf("the plan was truncated to %d actions; it must be refused whole, not cut", len(pl.Actions))
			}
		})
	}
	// At least one deactivation per account is always allowed.
	p := stagedPolicy()
	p.Safety.MaxAccountFraction = 0.01
	pl := plan(t, p, inventoryOf(inventory.AccountOK, users[0]), "", nil)
	if pl.Limits.Exceeded {
		t.Fatalf("one deactivation in an account refused: %+v", pl.Limits)
	}
}

// TestPlanCallerUsersKeys: running on temporary credentials of an IAM user
// (GetSessionToken: an ASIA key), the user's long-term keys are its own
// keys too, and are never acted on; another user's are.
func TestPlanCallerUsersKeys(t *testing.T) {
	const A = inventory.StatusActive
	inv := inventoryOf(inventory.AccountOK,
		userKeys{"hub", []inventory.Key{key("K1", A, ago(105), ago(3)), key("K2", A, ago(200), ago(50))}},
		userKeys{"alice", []inventory.Key{key("K3", A, ago(105), ago(3))}})
	p := stagedPolicy()
	for _, caller := range []string{"arn:aws:iam::111111111111:user/hub", "arn:aws:iam::111111111111:user/ops/team/hub"} {
		findings := p.Evaluate(inv, policy.Options{AsOf: asOf})
		pl, err := remediate.Make(context.Background(), remediate.Inputs{Inventory: inv, Findings: findings, Policy: p, AsOf: asOf, Now: asOf,
			Caller: caller, CallerKeyID: "ASIATEMPORARYSESSION", RunID: "test",
			DeactivatedAt: func(context.Context, string, string) (time.Time, bool, error) { return time.Time{}, false, nil }})
		if err != nil {
			t.Fatal(err)
		}
		actions, withheld := outline(pl)
		sort.Strings(withheld)
		if diff := cmp.Diff([]string{"deactivate:K3"}, actions); diff != "" {
			t.Errorf("%s: actions (-want +got):\n%s", caller, diff)
		}
		if diff := cmp.Diff([]string{"own-key:K1", "own-key:K2"}, withheld); diff != "" {
			t.Errorf("%s: withheld (-want +got):\n%s", caller, diff)
		}
	}
}

// TestPlanRecentUseGuardsEveryRule: multiple_active (deactivate_less_used)
// never deactivates a key used within the recent-use guard either.
func TestPlanRecentUseGuardsEveryRule(t *testing.T) {
	const A = inventory.StatusActive
	p := stagedPolicy()
	cfg := p.Rules[policy.MultipleActive]
	cfg.Action = policy.ActionDeactivateLessUsed
	p.Rules[policy.MultipleActive] = cfg
	for _, used := range []time.Duration{2 * time.Hour, 10 * time.Hour, 15 * time.Hour} {
		inv := inventoryOf(inventory.AccountOK, userKeys{"alice", []inventory.Key{
			key("K1", A, ago(30), asOf.Add(-used)), key("K2", A, ago(20), asOf.Add(-time.Minute))}})
		pl := plan(t, p, inv, "", nil)
		actions, withheld := outline(pl)
		if len(actions) != 0 || !cmp.Equal(withheld, []string{"recent-use:K1"}) {
			t.Errorf("key used %v ago: actions %v, withheld %v; want it withheld by recent-use", used, actions, withheld)
		}
	}
	// IAM shows a use up to 4h late: a use shown just past the guard may
	// hide a newer one, so the guard holds 4h longer.
	guard := p.Safety.RecentUseGuard.Std()
	for _, tc := range []struct {
		used     time.Duration
		withheld bool
	}{{guard + 3*time.Hour, true}, {guard + 5*time.Hour, false}} {
		inv := inventoryOf(inventory.AccountOK, userKeys{"alice", []inventory.Key{
			key("K1", A, ago(30), asOf.Add(-tc.used)), key("K2", A, ago(20), asOf.Add(-time.Minute))}})
		actions, withheld := outline(plan(t, p, inv, "", nil))
		if got := cmp.Equal(withheld, []string{"recent-use:K1"}) && len(actions) == 0; got != tc.withheld {
			t.Errorf("key shown used %v ago (guard %v): actions %v, withheld %v; want withheld %v", tc.used, guard, actions, withheld, tc.withheld)
		}
	}
	// A quiet second key is deactivated.
	inv := inventoryOf(inventory.AccountOK, userKeys{"alice", []inventory.Key{
		key("K1", A, ago(30), ago(6)), key("K2", A, ago(20), asOf.Add(-time.Minute))}})
	if actions, _ := outline(plan(t, p, inv, "", nil)); !cmp.Equal(actions, []string{"deactivate:K1"}) {
		t.Errorf("actions %v, want the key quiet for six days deactivated", actions)
	}
}
