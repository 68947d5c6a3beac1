package remediate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

func rotatingPolicy() *policy.Policy {
	p := stagedPolicy()
	p.Rotation.Enabled = true
	return p
}

// TestPlanRotation: with rotation enabled, the rotate stage plans a rotate
// action (stronger than notify, weaker than deactivate) under the guards;
// disabled, it warns.
func TestPlanRotation(t *testing.T) {
	const A, I = inventory.StatusActive, inventory.StatusInactive
	tests := []struct {
		name         string
		users        []userKeys
		callerKey    string
		wantActions  []string
		wantWithheld []string
	}{
		{"rotate stage rotates", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(95), ago(3))}}}, "",
			[]string{"rotate:K1"}, nil},
		{"a key in use is rotated (no recent-use guard)", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(95), asOf.Add(-time.Hour))}}}, "",
			[]string{"rotate:K1"}, nil},
		{"warn stage still warns", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(85), ago(3))}}}, "",
			[]string{"notify:K1"}, nil},
		{"deactivate beats rotate", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(105), ago(3))}}}, "",
			[]string{"deactivate:K1"}, nil},
		{"protected user", []userKeys{{"break-glass-admin", []inventory.Key{key("K1", A, ago(95), ago(3))}}}, "",
			nil, []string{"protected-user:K1"}},
		{"own key", []userKeys{{"ops", []inventory.Key{key("K1", A, ago(95), ago(3))}}}, "K1",
			nil, []string{"own-key:K1"}},
		{"key ID not read", []userKeys{{"alice", []inventory.Key{key("", A, ago(95), ago(3))}}}, "",
			nil, []string{"key-id-unknown:"}},
		{"two keys: quota, warned instead", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(95), ago(3)), key("K2", I, ago(10), time.Time{})}}}, "",
			[]string{"notify:K1"}, []string{"key-quota:K1"}},
		{"a user name Secrets Manager refuses", []userKeys{{"a,b", []inventory.Key{key("K1", A, ago(95), ago(3))}}}, "",
			[]string{"notify:K1"}, []string{"secret-name:K1"}},
		{"two keys, one ID unknown: quota", []userKeys{{"alice", []inventory.Key{key("K1", A, ago(95), ago(3)), key("", A, ago(10), ago(1))}}}, "",
			[]string{"notify:K1"}, []string{"key-quota:K1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := plan(t, rotatingPolicy(), inventoryOf(inventory.AccountOK, tt.users...), tt.callerKey, nil)
			actions, withheld := outline(pl)
			if diff := cmp.Diff(tt.wantActions, actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWithheld, withheld); diff != "" {
				t.Errorf("withheld (-want +got):\n%s", diff)
			}
			for _, a := range pl.Actions {
				if len(pl.Withheld) > 0 && pl.Withheld[0].Guard == remediate.GuardKeyQuota && !strings.Contains(a.Reason, "not rotated") {
					t.Errorf("the warning %q does not say why the key is not rotated", a.Reason)
				}
			}
		})
	}

	// Disabled (the default), the rotate stage warns.
	pl := plan(t, stagedPolicy(), inventoryOf(inventory.AccountOK, userKeys{"alice", []inventory.Key{key("K1", A, ago(95), ago(3))}}), "", nil)
	if actions, _ := outline(pl); strings.Join(actions, ",") != "notify:K1" {
		t.Errorf("rotation disabled: actions %v, want a warning", actions)
	}
	if pl.Changes() {
		t.Errorf("a warning changes no key")
	}
	pl = plan(t, rotatingPolicy(), inventoryOf(inventory.AccountOK, userKeys{"alice", []inventory.Key{key("K1", A, ago(95), ago(3))}}), "", nil)
	if !pl.Changes() || pl.Summary().Rotate != 1 {
		t.Errorf("a rotation is a change: summary %+v", pl.Summary())
	}
}

// TestRotationLimits: rotations count towards safety.max_actions.
func TestRotationLimits(t *testing.T) {
	p := rotatingPolicy()
	p.Safety.MaxActions = 1
	pl := plan(t, p, inventoryOf(inventory.AccountOK,
		userKeys{"alice", []inventory.Key{key("K1", inventory.StatusActive, ago(95), ago(3))}},
		userKeys{"bob", []inventory.Key{key("K2", inventory.StatusActive, ago(95), ago(3))}}), "", nil)
	if !pl.Limits.Exceeded || !strings.Contains(strings.Join(pl.Limits.Reasons, ";"), "rotations") {
		t.Errorf("limits %+v, want two rotations over max_actions 1", pl.Limits)
	}
}

func TestRotationDetail(t *testing.T) {
	d := "deleted key AKIAOLD, created by the interrupted run and never stored (its secret was lost); new key AKIANEW stored in secret arn:aws:secretsmanager:eu-west-1:111111111111:secret:keywarden/iam-user/alice-AbCdEf; the old key stays active"
	k, arn, ok := remediate.RotationDetail(d)
	if !ok || k != "AKIANEW" || arn != "arn:aws:secretsmanager:eu-west-1:111111111111:secret:keywarden/iam-user/alice-AbCdEf" {
		t.Errorf("RotationDetail = %q, %q, %v", k, arn, ok)
	}
	if r := remediate.SecretRegion(arn); r != "eu-west-1" {
		t.Errorf("SecretRegion = %q", r)
	}
}

// TestPlanDemandWhateverTheAge: 'keywarden rotate' of a key whose
// deactivate stage is due rotates it (the deactivation comes at the
// cutover, or at once with --deactivate-now); a plan of the rules alone
// deactivates it.
func TestPlanDemandWhateverTheAge(t *testing.T) {
	p := stagedPolicy() // rotation not enabled: asking by hand is enough
	inv := inventoryOf(inventory.AccountOK, userKeys{"alice", []inventory.Key{key("K1", inventory.StatusActive, ago(105), ago(20))}})
	findings := p.Evaluate(inv, policy.Options{AsOf: asOf})
	for _, now := range []bool{false, true} {
		pl, err := remediate.Make(t.Context(), remediate.Inputs{Inventory: inv, Findings: findings, Policy: p, AsOf: asOf, Now: asOf, RunID: "test",
			Demand: &remediate.Demand{AccountID: "111111111111", UserName: "alice", AccessKeyID: "K1", DeactivateNow: now}})
		if err != nil {
			t.Fatal(err)
		}
		if actions, _ := outline(pl); !cmp.Equal(actions, []string{"rotate:K1"}) || pl.Actions[0].DeactivateOld != now {
			t.Errorf("deactivate-now %v: actions %v (%+v), want K1 rotated", now, actions, pl.Actions)
		}
	}
	if actions, _ := outline(plan(t, p, inv, "", nil)); !cmp.Equal(actions, []string{"deactivate:K1"}) {
		t.Errorf("the rules alone: actions %v, want K1 deactivated", actions)
	}
}
