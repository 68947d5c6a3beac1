package remediate_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// judgeWorld is one account judged by the staged policy: alice's key is
// due for deactivation, bob's is healthy, carol's is exempt, dave's was
// used two hours ago, erin's is due for a warning.
func judgeWorld(t *testing.T) (*policy.Policy, *inventory.Inventory) {
	t.Helper()
	const A = inventory.StatusActive
	pol := stagedPolicy()
	pol.Exemptions = []policy.Exemption{{Users: []string{"carol"}, Reason: "vendor integration, ticket SEC-12"}}
	inv := inventoryOf(inventory.AccountOK,
		userKeys{"alice", []inventory.Key{key("AKIAALICE", A, ago(105), ago(20))}},
		userKeys{"bob", []inventory.Key{key("AKIABOB", A, ago(50), ago(1))}},
		userKeys{"carol", []inventory.Key{key("AKIACAROL", A, ago(105), ago(20))}},
		userKeys{"dave", []inventory.Key{key("AKIADAVE", A, ago(105), asOf.Add(-2*time.Hour))}},
		userKeys{"erin", []inventory.Key{key("AKIAERIN", A, ago(85), ago(3))}},
	)
	return pol, inv
}

// forge adds an action to a plan the way someone editing the file would,
// with the ID its content gives (or a made-up one).
func forge(p *remediate.Plan, typ, user, keyID string, rightID bool) {
	a := remediate.Action{Type: typ, AccountID: "111111111111", UserName: user, AccessKeyID: keyID, Rules: []string{"max_age"},
		Stage: "deactivate", Reason: "hand-added", Key: remediate.KeyState{Status: inventory.StatusActive, CreatedAt: ago(105)}}
	a.ID = "act-000000000000"
	if rightID {
		a.ID = remediate.ActionID(p.PolicyHash, a)
	}
	p.Actions = append(p.Actions, a)
}

func preparer(t *testing.T, pol *policy.Policy) *remediate.Applier {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &remediate.Applier{Store: st, Policy: pol, Now: func() time.Time { return asOf }}
}

// TestPrepareNarrows: a plan file is a proposal. Actions the live view
// does not have, or has as another type, are dropped with why; an edited
// ID or a repeated action is dropped; what is kept is what the policy
// asks for now.
func TestPrepareNarrows(t *testing.T) {
	pol, inv := judgeWorld(t)
	live := plan(t, pol, inv, "", nil)
	if got, _ := outline(live); !cmp.Equal(got, []string{"deactivate:AKIAALICE", "notify:AKIAERIN"}) {
		t.Fatalf("the world is not as the test assumes: live plan %v", got)
	}
	saved := plan(t, pol, inv, "", nil)
	saved.Actions = append(saved.Actions, saved.Actions[0]) // listed twice
	forge(saved, remediate.Deactivate, "bob", "AKIABOB", true)
	forge(saved, remediate.Deactivate, "bob", "AKIABOB", false)
	forge(saved, remediate.Deactivate, "carol", "AKIACAROL", true)
	forge(saved, remediate.Deactivate, "dave", "AKIADAVE", true)
	forge(saved, remediate.Deactivate, "erin", "AKIAERIN", true)
	forge(saved, remediate.Delete, "zoe", "AKIAZOE", true)
	findings := pol.Evaluate(inv, policy.Options{AsOf: asOf})

	prep, err := preparer(t, pol).Prepare(t.Context(), saved, &remediate.LiveView{Inventory: inv, Findings: findings, Plan: live, AsOf: asOf})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var todo []string
	for _, a := range prep.ToDo {
		todo = append(todo, a.Type+":"+a.AccessKeyID)
	}
	if diff := cmp.Diff([]string{"deactivate:AKIAALICE", "notify:AKIAERIN"}, todo); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	want := []string{
		"alice skipped: the plan lists this action twice",
		"bob skipped: no rule of the current policy asks to deactivate this key now",
		"bob skipped: the action's ID does not match what it says: the plan file was edited",
		"carol skipped: the key is exempt now: vendor integration, ticket SEC-12",
		"dave skipped: withheld now by the recent-use guard: used 2h0m0s ago (within safety.recent_use_guard 1d, plus the 4h IAM may take to show a use): rotate it first, or exempt the user",
		"erin skipped: the policy now asks to notify this key, not to deactivate it; make a new plan",
		"zoe skipped: no rule of the current policy asks to delete this key now",
	}
	if diff := cmp.Diff(want, resultOutline(prep.Dropped)); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
}

// TestPrepareLimits: the limits come from what would be done and the live
// key counts, never from the plan file.
func TestPrepareLimits(t *testing.T) {
	const A = inventory.StatusActive
	pol := stagedPolicy()
	pol.Safety.MaxAccountFraction = 0.5
	inv := inventoryOf(inventory.AccountOK,
		userKeys{"u1", []inventory.Key{key("AKIAU1", A, ago(105), ago(20))}},
		userKeys{"u2", []inventory.Key{key("AKIAU2", A, ago(105), ago(20))}},
		userKeys{"u3", []inventory.Key{key("AKIAU3", A, ago(105), ago(20))}},
		userKeys{"u4", []inventory.Key{key("AKIAU4", A, ago(10), ago(1))}},
	)
	live := plan(t, pol, inv, "", nil)
	if !live.Limits.Exceeded {
		t.Fatalf("the world is not as the test assumes: 3 of 4 keys within a 0.5 cap: %+v", live.Limits)
	}
	tests := []struct {
		name    string
		edit    func(*remediate.Plan)
		bulk    bool
		wantErr bool
	}{
		{"flag flipped in the file", func(p *remediate.Plan) { p.Limits.Exceeded, p.Limits.Reasons = false, nil }, false, true},
		{"active keys inflated in the file", func(p *remediate.Plan) { p.Accounts[0].ActiveKeys = 1000; p.Limits.Exceeded = false }, false, true},
		{"--unsafe-allow-bulk", func(*remediate.Plan) {}, true, false},
		{"narrowed to within the caps", func(p *remediate.Plan) { p.Actions = p.Actions[:2] }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := plan(t, pol, inv, "", nil)
			tt.edit(saved)
			ap := preparer(t, pol)
			ap.UnsafeAllowBulk = tt.bulk
			prep, err := ap.Prepare(t.Context(), saved, &remediate.LiveView{Inventory: inv, Plan: live, AsOf: asOf})
			if tt.wantErr {
				if !errors.Is(err, remediate.ErrOverLimits) || !strings.Contains(err.Error(), "max_account_fraction") {
					t.Fatalf("Prepare: %v, want ErrOverLimits on max_account_fraction", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if prep.Limits.Exceeded != tt.bulk {
				t.Errorf("limits %+v, exceeded want %v", prep.Limits, tt.bulk)
			}
		})
	}
}

// TestPrepareFailedAccount: nothing is done in an account that could not
// be read again.
func TestPrepareFailedAccount(t *testing.T) {
	pol, inv := judgeWorld(t)
	saved := plan(t, pol, inv, "", nil)
	failed := inventoryOf(inventory.AccountFailed)
	failed.Accounts[0].Error = "AccessDenied: not authorized to perform sts:AssumeRole"
	live := plan(t, pol, failed, "", nil)
	prep, err := preparer(t, pol).Prepare(t.Context(), saved, &remediate.LiveView{Inventory: failed, Plan: live, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	if len(prep.ToDo) != 0 || len(prep.Dropped) != len(saved.Actions) {
		t.Fatalf("kept %d, dropped %d; want every action dropped", len(prep.ToDo), len(prep.Dropped))
	}
	if d := prep.Dropped[0].Detail; !strings.Contains(d, "could not be read now") || !strings.Contains(d, "AssumeRole") {
		t.Errorf("dropped because %q, want the account's failure", d)
	}
}
