package remediate_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

const testSecretARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:keywarden/iam-user/alice-AbCdEf"

// TestPlanCutover: where a rotated key is in its rotation decides what the
// plan does with it: nothing until the new key is used and the old key has
// been quiet for the window, then deactivate; at the deadline with the new
// key unused, hold and warn (or deactivate, if the policy says so).
func TestPlanCutover(t *testing.T) {
	const A, I = inventory.StatusActive, inventory.StatusInactive
	h := func(n int) time.Time { return asOf.Add(-time.Duration(n) * time.Hour) }
	never := time.Time{}
	tests := []struct {
		name         string
		user         string
		keys         []inventory.Key
		rotated      time.Time // when K1 was rotated into K2
		onDeadline   string
		wantPhase    string
		wantActions  []string
		wantWithheld []string
	}{
		{"new key not used yet", "alice", []inventory.Key{key("K1", A, ago(95), h(1)), key("K2", A, ago(2), never)}, ago(2), "",
			remediate.PhaseWaitingForUse, nil, nil},
		{"new key used, old key used since", "alice", []inventory.Key{key("K1", A, ago(95), h(10)), key("K2", A, ago(2), ago(1))}, ago(2), "",
			remediate.PhaseWaitingForQuiet, nil, nil},
		{"new key used, rotation younger than the window", "alice", []inventory.Key{key("K1", A, ago(95), ago(3)), key("K2", A, h(10), h(5))}, h(10), "",
			remediate.PhaseWaitingForQuiet, nil, nil},
		{"new key used, old key quiet: cutover", "alice", []inventory.Key{key("K1", A, ago(95), ago(3)), key("K2", A, ago(2), ago(1))}, ago(2), "",
			remediate.PhaseCutoverDue, []string{"deactivate:K1"}, nil},
		{"cutover of a protected user", "break-glass-admin", []inventory.Key{key("K1", A, ago(95), ago(3)), key("K2", A, ago(2), ago(1))}, ago(2), "",
			remediate.PhaseCutoverDue, nil, []string{"protected-user:K1"}},
		{"deadline, new key never used: held and warned", "alice", []inventory.Key{key("K1", A, ago(101), ago(3)), key("K2", A, ago(6), never)}, ago(6), "",
			remediate.PhaseHeld, []string{"notify:K1"}, []string{"cutover-hold:K1"}},
		{"deadline, new key never used, on_deadline deactivate", "alice", []inventory.Key{key("K1", A, ago(101), ago(3)), key("K2", A, ago(6), never)}, ago(6), policy.OnDeadlineDeactivate,
			remediate.PhaseDeadline, []string{"deactivate:K1"}, nil},
		{"deadline, on_deadline deactivate, old key in use", "alice", []inventory.Key{key("K1", A, ago(101), h(2)), key("K2", A, ago(6), never)}, ago(6), policy.OnDeadlineDeactivate,
			remediate.PhaseDeadline, nil, []string{"recent-use:K1"}},
		{"deadline, new key used, old key still used", "alice", []inventory.Key{key("K1", A, ago(101), h(2)), key("K2", A, ago(6), ago(1))}, ago(6), "",
			remediate.PhaseWaitingForQuiet, nil, []string{"cutover:K1"}},
		{"old key inactive: cut over", "alice", []inventory.Key{key("K1", I, ago(101), ago(3)), key("K2", A, ago(6), ago(1))}, ago(6), "",
			remediate.PhaseCutOver, nil, nil},
		{"new key deleted: the rules judge the old key", "alice", []inventory.Key{key("K1", A, ago(95), h(1)), key("K3", I, ago(10), never)}, ago(2), "",
			remediate.PhaseNewKeyGone, []string{"notify:K1"}, []string{"key-quota:K1"}},
		{"a key ID not read may be the new key", "alice", []inventory.Key{key("K1", A, ago(101), ago(3)), key("", A, ago(6), ago(1))}, ago(6), "",
			remediate.PhaseWaitingForUse, nil, []string{"cutover:K1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rotatingPolicy()
			if tt.onDeadline != "" {
				p.Rotation.OnDeadline = tt.onDeadline
			}
			inv := inventoryOf(inventory.AccountOK, userKeys{tt.user, tt.keys})
			findings := p.Evaluate(inv, policy.Options{AsOf: asOf})
			pl, err := remediate.Make(context.Background(), remediate.Inputs{
				Inventory: inv, Findings: findings, Policy: p, AsOf: asOf, Now: asOf, Caller: "arn:aws:iam::999999999999:user/hub", RunID: "test",
				DeactivatedAt: func(context.Context, string, string) (time.Time, bool, error) { return time.Time{}, false, nil },
				LastRotation: func(_ context.Context, account, keyID string) (store.Entry, bool, error) {
					if keyID != "K1" {
						return store.Entry{}, false, nil
					}
					return store.Entry{RunID: "run-rotated", Action: store.ActionRotate, AccountID: account, UserName: tt.user, AccessKeyID: "K1",
						Outcome: store.OutcomeDone, Detail: "new key K2 stored in secret " + testSecretARN + "; the old key stays active",
						IntentAt: tt.rotated, ResultAt: tt.rotated}, true, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			actions, withheld := outline(pl)
			if diff := cmp.Diff(tt.wantActions, actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWithheld, withheld); diff != "" {
				t.Errorf("withheld (-want +got):\n%s", diff)
			}
			if len(pl.Rotations) != 1 {
				t.Fatalf("rotations %+v, want one", pl.Rotations)
			}
			r := pl.Rotations[0]
			if r.Phase != tt.wantPhase || r.OldKeyID != "K1" || r.NewKeyID != "K2" || r.SecretARN != testSecretARN || r.RunID != "run-rotated" {
				t.Errorf("rotation %+v, want phase %s", r, tt.wantPhase)
			}
			if (r.Phase == remediate.PhaseWaitingForQuiet || r.Phase == remediate.PhaseCutoverDue) != (r.CutoverAt != nil) {
				t.Errorf("phase %s with cutover_at %v", r.Phase, r.CutoverAt)
			}
		})
	}
}
