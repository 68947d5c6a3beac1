package engine_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// TestRecoveryDeactivatesLeakedKey: 'keywarden rotate --deactivate-now'
// died after storing alice's new key, before it deactivated the leaked old
// one — with the rotation's result journaled or not. The next enforce run
// deactivates the old key (journaled in the dead run, so that its undo
// reverses it), leaves the stored one active, and does it once.
func TestRecoveryDeactivatesLeakedKey(t *testing.T) {
	for _, journaled := range []bool{false, true} {
		o := newOrg(t, 1)
		acct := o.prod
		clock := o.sb.Clock()
		old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
		pol := mustPolicy(t, enforceYAML)
		ctx := t.Context()
		at := clock.Now().Add(-time.Minute)

		// The dead run: its rotation of alice's key, asked to deactivate
		// the old key at once, and the new key stored.
		lease, err := o.st.Acquire(ctx, "run-leak", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := lease.CreateRun(ctx, store.Run{ID: "run-leak", Command: "rotate", PlanID: "plan-run-leak", PolicyHash: pol.Hash,
			Status: store.RunRunning, StartedAt: at}); err != nil {
			t.Fatal(err)
		}
		a := remediate.Action{Type: remediate.Rotate, AccountID: acct, UserName: "alice", AccessKeyID: old, Stage: "rotate"}
		e := store.Entry{RunID: "run-leak", PlanID: "plan-run-leak", ActionID: remediate.ActionID(pol.Hash, a), Action: remediate.Rotate,
			AccountID: acct, UserName: "alice", AccessKeyID: old, Rule: remediate.RuleOnDemand, Stage: "rotate" + remediate.StageOwesDeactivation,
			KeyStatus: awsemu.StatusActive, IntentAt: at}
		ks, _ := o.sb.AccessKey(old)
		e.KeyCreatedAt = ks.CreatedAt.UTC()
		if e.ID, err = lease.RecordIntent(ctx, e); err != nil {
			t.Fatal(err)
		}
		stored := o.addKey(acct, "alice", 0, 0, awsemu.StatusActive)
		value, _ := json.Marshal(secretValue{stored.AccessKeyID, stored.SecretAccessKey})
		arn, err := o.sb.AddSecret(awsemu.SecretSpec{Account: acct, Name: "keywarden/iam-user/alice", SecretString: string(value),
			Tags: []awsemu.Tag{{Key: remediate.TagUser, Value: "alice"}, {Key: remediate.TagAccessKeyID, Value: stored.AccessKeyID}}})
		if err != nil {
			t.Fatal(err)
		}
		if journaled {
			if err := lease.RecordResult(ctx, e.ID, store.Result{Outcome: store.OutcomeDone, At: at,
				Detail: "new key " + stored.AccessKeyID + " stored in secret " + arn + "; the old key is deactivated next (--deactivate-now)"}); err != nil {
				t.Fatal(err)
			}
		}
		lease.Release()

		// With this machine's clock off, neither 'rotate' nor an enforce
		// run touches the dead run's keys.
		skewed := httptest.NewServer(skewedDate{o.sb, -48 * time.Hour})
		t.Cleanup(skewed.Close)
		if _, err := o.engineAt(pol, "rotate", skewed.URL).Rotate(ctx, engine.RotateRequest{AccountID: acct, UserName: "alice", Read: orgRead}); !errors.Is(err, engine.ErrClockSkew) {
			t.Errorf("journaled %v: rotate with the clock 48h ahead: %v, want %v", journaled, err, engine.ErrClockSkew)
		}
		_, _ = o.engineAt(pol, "serve", skewed.URL).Automate(ctx, engine.AutomationRequest{Trigger: engine.TriggerSchedule})
		if o.status(old) != awsemu.StatusActive {
			t.Fatalf("journaled %v: the leaked key is %s after runs with the clock off, want it left active", journaled, o.status(old))
		}

		for run := 0; run < 2; run++ {
			if _, err := o.clocked(pol, "serve").Automate(ctx, engine.AutomationRequest{Trigger: engine.TriggerSchedule}); err != nil {
				t.Fatal(err)
			}
		}
		if o.status(old) != awsemu.StatusInactive || o.status(stored.AccessKeyID) != awsemu.StatusActive {
			t.Errorf("journaled %v: old key %s, stored key %s; want the leaked key inactive, the new one active",
				journaled, o.status(old), o.status(stored.AccessKeyID))
		}
		es, err := o.st.Entries(ctx, "run-leak")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range es {
			if x.Action == store.ActionDeactivate && x.Stage == remediate.StageDeactivateNow && x.AccessKeyID == old {
				n++
				if x.Outcome != store.OutcomeDone {
					t.Errorf("journaled %v: the deactivation ends %s: %s", journaled, x.Outcome, x.Detail)
				}
			}
		}
		if n != 1 {
			t.Errorf("journaled %v: %d deactivations of the leaked key in run-leak, want 1: %+v", journaled, n, es)
		}
		if r, err := o.st.GetRun(ctx, "run-leak"); err != nil || r.Status != store.RunInterrupted {
			t.Errorf("journaled %v: the dead run is %q (%v), want it recorded interrupted", journaled, r.Status, err)
		}
		if !strings.HasPrefix(es[0].Stage, "rotate") {
			t.Errorf("journaled %v: entries %+v", journaled, es)
		}
	}
}
