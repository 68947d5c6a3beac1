package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/dynamo"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// A rotation whose process died between CreateAccessKey and journaling the
// result, in a run of a plan that is never applied again (a scheduled run,
// 'keywarden rotate'): the next run of any plan finishes it.

// enforceYAML rotates at 90 days, and the automation section enforces.
const enforceYAML = rotationYAML + `accounts: {organization: true}
automation: {mode: enforce}
`

// crashedRotation journals what a run that died while rotating alice's
// old key leaves: run runID of a plan of its own, still running, with the
// rotate intent at `at` and no result — or, with unknown, the result of a
// CreateAccessKey cut off (outcome unknown). It returns the stray entry.
func crashedRotation(t *testing.T, o *org, pol *policy.Policy, runID, old string, at time.Time, unknown bool) store.Entry {
	t.Helper()
	ctx := t.Context()
	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	a := actionOn(planned.Plan, old)
	if a == nil || a.Type != remediate.Rotate {
		t.Fatalf("the plan has %+v for %s, want its rotation", a, old)
	}
	e := journalCrash(t, o, pol, planned.Plan, *a, runID, at)
	if unknown {
		lease, err := o.st.Acquire(ctx, runID+"-end", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer lease.Release()
		if err := lease.RecordResult(ctx, e.ID, store.Result{Outcome: store.OutcomeFailed, Detail: remediate.DetailOutcomeUnknown, At: at}); err != nil {
			t.Fatal(err)
		}
		if err := lease.FinishRun(ctx, runID, store.RunInterrupted, at); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// journalCrash journals what a run of plan p that died in the middle of
// action a leaves: run runID, still running, with a's intent at `at` and
// no result. It returns the entry.
func journalCrash(t *testing.T, o *org, pol *policy.Policy, p *remediate.Plan, a remediate.Action, runID string, at time.Time) store.Entry {
	t.Helper()
	ctx := t.Context()
	lease, err := o.st.Acquire(ctx, runID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	if err := lease.CreateRun(ctx, store.Run{ID: runID, Command: "apply", PlanID: p.ID, PolicyHash: pol.Hash,
		Status: store.RunRunning, StartedAt: at}); err != nil {
		t.Fatal(err)
	}
	e := store.Entry{RunID: runID, PlanID: p.ID, ActionID: a.ID, Action: a.Type, AccountID: a.AccountID,
		UserName: a.UserName, AccessKeyID: a.AccessKeyID, Rule: strings.Join(a.Rules, ","), Stage: a.Stage,
		KeyStatus: a.Key.Status, KeyCreatedAt: a.Key.CreatedAt, IntentAt: at}
	if e.ID, err = lease.RecordIntent(ctx, e); err != nil {
		t.Fatal(err)
	}
	return e
}

// lastOf is the last journal entry of the stray's action in its run: the
// stray itself, or the one recovery added after a result it already had.
func lastOf(t *testing.T, o *org, stray store.Entry) store.Entry {
	t.Helper()
	es, err := o.st.Entries(t.Context(), stray.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var last store.Entry
	for _, e := range es {
		if e.ActionID == stray.ActionID {
			last = e
		}
	}
	return last
}

// TestAutomateRecoversOrphan: a scheduled run died between creating alice's
// new key and storing it. The next enforce run deletes the orphan before
// it plans, and journals on the stray entry which run deleted which key;
// its plan then sees alice's one key and rotates it; the run after does
// nothing more. Whether the dead run's intent was left pending or its
// CreateAccessKey was cut off, and the orphan's secret is nowhere.
func TestAutomateRecoversOrphan(t *testing.T) {
	for _, unknown := range []bool{false, true} {
		t.Run(fmt.Sprintf("outcome unknown %v", unknown), func(t *testing.T) {
			automateRecoversOrphan(t, newOrg(t, 1), unknown)
		})
	}
}

// TestAutomateRecoversOrphanDynamoDB is TestAutomateRecoversOrphan with
// the state in DynamoDB (moto), as the Lambda keeps it.
func TestAutomateRecoversOrphanDynamoDB(t *testing.T) {
	srv := moto.Start(t)
	for _, unknown := range []bool{false, true} {
		t.Run(fmt.Sprintf("outcome unknown %v", unknown), func(t *testing.T) {
			o := newOrg(t, 1)
			o.st = dynamoStore(t, srv)
			automateRecoversOrphan(t, o, unknown)
		})
	}
}

func automateRecoversOrphan(t *testing.T, o *org, unknown bool) {
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, enforceYAML)
	stray := crashedRotation(t, o, pol, "run-crashed", old, time.Now().UTC().Add(-time.Minute), unknown)
	orphan := o.addKey(acct, "alice", 0, 0, awsemu.StatusActive)

	var logs bytes.Buffer
	eng := o.engine(pol, "serve")
	eng.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sum, err := eng.Automate(t.Context(), engine.AutomationRequest{Trigger: engine.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	if o.status(orphan.AccessKeyID) != "deleted" || o.status(old) != awsemu.StatusActive {
		t.Fatalf("orphan %s, old key %s; want deleted and active (summary %+v)", o.status(orphan.AccessKeyID), o.status(old), sum)
	}
	e := lastOf(t, o, stray)
	if e.Outcome != store.OutcomeFailed || !strings.Contains(e.Detail, "deleted key "+orphan.AccessKeyID) || !strings.Contains(e.Detail, "run "+sum.RunID) {
		t.Errorf("the stray's entry ends %s: %q; want failed, naming the orphan deleted and run %s", e.Outcome, e.Detail, sum.RunID)
	}
	if _, ok, _ := o.st.LastRotation(t.Context(), acct, old); !ok {
		t.Errorf("no rotation of %s is journaled as done", old)
	}
	// The same run rotated: alice holds her old key and the one in
	// the secret, nothing else.
	if sum.Planned[remediate.Rotate] != 1 || sum.Actions[store.OutcomeDone] < 1 || sum.Status != engine.StatusOK {
		t.Errorf("summary %+v; want the rotation planned and done", sum)
	}
	sec, ok := o.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice")
	if !ok {
		t.Fatal("no secret for alice")
	}
	cur, _ := sec.Current()
	var v secretValue
	if err := json.Unmarshal([]byte(cur.SecretString), &v); err != nil {
		t.Fatal(err)
	}
	o.secrets = append(o.secrets, v.SecretAccessKey)
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 || o.status(v.AccessKeyID) != awsemu.StatusActive {
		t.Errorf("alice holds %v; want %s and the stored %s", keys, old, v.AccessKeyID)
	}

	// The next run finds nothing left to finish, and rotates nothing.
	sum2, err := o.engine(pol, "serve").Automate(t.Context(), engine.AutomationRequest{Trigger: engine.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Planned[remediate.Rotate] != 0 || len(sum2.Problems) != 0 {
		t.Errorf("next run: %+v; want no rotation and no problem", sum2)
	}
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 {
		t.Errorf("after the next run alice holds %v", keys)
	}
	if again := lastOf(t, o, stray); again.ID != e.ID || again.Detail != e.Detail {
		t.Errorf("the stray was finished again: %+v", again)
	}
	for _, s := range o.secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a key's secret is in the logs")
		}
	}
	if !strings.Contains(logs.String(), orphan.AccessKeyID) {
		t.Errorf("the logs do not say the orphan %s was deleted:\n%s", orphan.AccessKeyID, logs.String())
	}
	o.noSecretLeaks(t, nil)
}

// TestRotateOnDemandRecoversOrphan: 'keywarden rotate' died after creating
// the new key; the next 'keywarden rotate' of the user (a new plan)
// deletes the orphan and rotates in one go.
func TestRotateOnDemandRecoversOrphan(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	stray := crashedRotation(t, o, pol, "run-crashed", old, time.Now().UTC().Add(-2*time.Minute), false)
	orphan := o.addKey(acct, "alice", 0, 0, awsemu.StatusActive)

	res, err := o.engine(pol, "rotate").Rotate(t.Context(), engine.RotateRequest{AccountID: acct, UserName: "alice", Read: orgRead})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if len(res.Recovered) != 1 || res.Recovered[0].Action.AccessKeyID != old || !strings.Contains(res.Recovered[0].Detail, "deleted key "+orphan.AccessKeyID) {
		t.Errorf("recovered %+v; want the rotation of %s, its orphan deleted", res.Recovered, old)
	}
	if len(res.Outcome.Results) != 1 || res.Outcome.Results[0].Outcome != store.OutcomeDone {
		t.Fatalf("results %+v; want the rotation done", res.Outcome.Results)
	}
	newID, _, _ := remediate.RotationDetail(res.Outcome.Results[0].Detail)
	if o.status(orphan.AccessKeyID) != "deleted" || o.status(newID) != awsemu.StatusActive || o.status(old) != awsemu.StatusActive {
		t.Errorf("orphan %s, new key %s, old key %s", o.status(orphan.AccessKeyID), o.status(newID), o.status(old))
	}
	if e := lastOf(t, o, stray); e.Outcome != store.OutcomeFailed || !strings.Contains(e.Detail, res.Outcome.RunID) {
		t.Errorf("the stray's entry ends %s: %q; want failed, naming run %s", e.Outcome, e.Detail, res.Outcome.RunID)
	}
}

// TestApplyRecoversOrphanOfAnotherPlan: 'keywarden apply' of a plan that
// changes keys finishes another plan's interrupted rotation first, under
// its lock; its own actions go on.
func TestApplyRecoversOrphanOfAnotherPlan(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	carol := o.addKey(acct, "carol", 125*day, 30*day, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	stray := crashedRotation(t, o, pol, "run-crashed", old, time.Now().UTC().Add(-time.Minute), false)
	orphan := o.addKey(acct, "alice", 0, 0, awsemu.StatusActive)

	planned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
	if err != nil {
		t.Fatal(err)
	}
	if a := actionOn(planned.Plan, carol); a == nil || a.Type != remediate.Deactivate {
		t.Fatalf("the plan has %+v for carol's key, want its deactivation", a)
	}
	res, err := o.engine(pol, "apply").Apply(t.Context(), engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if o.status(orphan.AccessKeyID) != "deleted" || o.status(carol) != awsemu.StatusInactive || o.status(old) != awsemu.StatusActive {
		t.Errorf("orphan %s, carol's key %s, old key %s; want deleted, inactive, active", o.status(orphan.AccessKeyID), o.status(carol), o.status(old))
	}
	if e := lastOf(t, o, stray); e.Outcome != store.OutcomeFailed || !strings.Contains(e.Detail, "deleted key "+orphan.AccessKeyID) || !strings.Contains(e.Detail, res.Outcome.RunID) {
		t.Errorf("the stray's entry ends %s: %q", e.Outcome, e.Detail)
	}
	// A plan that only warns changes no key: it finishes nothing.
	o2 := newOrg(t, 1)
	old2 := o2.addKey(o2.prod, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	stray2 := crashedRotation(t, o2, pol, "run-crashed", old2, time.Now().UTC().Add(-time.Minute), false)
	orphan2 := o2.addKey(o2.prod, "alice", 0, 0, awsemu.StatusActive)
	report := mustPolicy(t, strings.Replace(enforceYAML, "mode: enforce", "mode: report", 1))
	if _, err := o2.engine(report, "serve").Automate(t.Context(), engine.AutomationRequest{Trigger: engine.TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	if o2.status(orphan2.AccessKeyID) != awsemu.StatusActive || lastOf(t, o2, stray2).Outcome != store.OutcomePending {
		t.Errorf("a report run touched the orphan (%s) or the journal", o2.status(orphan2.AccessKeyID))
	}
}

// TestRecoveryFindsTheStoredKey: the dead run had stored the new key (the
// secret's tag names it) but not journaled it. The next run records the
// rotation as done on the stray entry, puts the secret's policy (the user
// has a path: read through the read role), creates no second key, and the
// cutover then follows as for any rotation.
func TestRecoveryFindsTheStoredKey(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	clock := o.sb.Clock()
	if err := o.sb.AddUser(awsemu.UserSpec{Account: acct, Name: "alice", Path: "/team/", CreatedAt: clock.Now().Add(-200 * day)}); err != nil {
		t.Fatal(err)
	}
	o.users[acct+"/alice"] = true
	oldKey := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive)
	old := oldKey.AccessKeyID
	pol := mustPolicy(t, enforceYAML)
	stray := crashedRotation(t, o, pol, "run-crashed", old, clock.Now().Add(-time.Minute), false)
	stored := o.addKey(acct, "alice", 0, 0, awsemu.StatusActive)
	value, _ := json.Marshal(secretValue{stored.AccessKeyID, stored.SecretAccessKey})
	arn, err := o.sb.AddSecret(awsemu.SecretSpec{Account: acct, Name: "keywarden/iam-user/alice", SecretString: string(value),
		Tags: []awsemu.Tag{{Key: remediate.TagAccessKeyID, Value: stored.AccessKeyID}}})
	if err != nil {
		t.Fatal(err)
	}

	sum, err := o.clocked(pol, "serve").Automate(t.Context(), engine.AutomationRequest{Trigger: engine.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	e := lastOf(t, o, stray)
	newID, gotARN, ok := remediate.RotationDetail(e.Detail)
	if e.Outcome != store.OutcomeDone || !ok || newID != stored.AccessKeyID || gotARN != arn {
		t.Fatalf("the stray's entry ends %s: %q; want done with %s in %s", e.Outcome, e.Detail, stored.AccessKeyID, arn)
	}
	if sum.Planned[remediate.Rotate] != 0 || len(sum.Problems) != 0 {
		t.Errorf("summary %+v; want no second rotation, no problem", sum)
	}
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 || o.status(stored.AccessKeyID) != awsemu.StatusActive {
		t.Errorf("alice holds %v; want the old key and the stored one", keys)
	}
	if sec, _ := o.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice"); !strings.Contains(sec.Policy, `"arn:aws:iam::`+acct+`:user/team/alice"`) {
		t.Errorf("the secret's policy %q does not let alice (path /team/) read it", sec.Policy)
	}

	// The application moves to the new key; once the old one has been
	// quiet for the window, a run cuts over.
	clock.Advance(2 * time.Hour)
	o.useKey(stored.AccessKeyID, stored.SecretAccessKey)
	clock.Advance(2 * day)
	sum, err = o.clocked(pol, "serve").Automate(t.Context(), engine.AutomationRequest{Trigger: engine.TriggerSchedule,
		Read: engine.Read{AsOf: clock.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if o.status(old) != awsemu.StatusInactive || o.status(stored.AccessKeyID) != awsemu.StatusActive {
		t.Errorf("old key %s, new key %s (summary %+v); want the cutover done", o.status(old), o.status(stored.AccessKeyID), sum)
	}
}

// TestRecoveryLeavesOwnersKeys: meanwhile the owner made a key by hand. If
// it was made long after the dead run's attempt, or has been used, it is
// not the run's orphan: it is left alone, and the stray entry is finished
// all the same (the rotation is then withheld by the key quota). Nor is
// the new key of a rotation of the same key that another run journaled as
// done. Under another policy, where the secret may have been elsewhere,
// even a key that looks like the orphan is left, and the run says why.
func TestRecoveryLeavesOwnersKeys(t *testing.T) {
	for _, tt := range []struct {
		name         string
		created      time.Duration // before the next run
		used         time.Duration // 0: never
		otherPolicy  bool
		rotatedBy    bool // another run journaled the key as the old key's successor
		wantFinished bool
	}{
		{"created after the attempt, unused", 40 * time.Minute, 0, false, false, true},
		{"created right after the attempt, used", 55 * time.Minute, 10 * time.Minute, false, false, true},
		{"another run's new key", 58 * time.Minute, 0, false, true, true},
		{"the orphan, under another policy", 59 * time.Minute, 0, true, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrg(t, 1)
			acct := o.prod
			old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
			pol := mustPolicy(t, enforceYAML)
			crashPol := pol
			if tt.otherPolicy {
				crashPol = mustPolicy(t, strings.Replace(enforceYAML, `["break-glass-*"]`, `["break-glass-*", "emergency-*"]`, 1))
				if crashPol.Hash == pol.Hash {
					t.Fatal("the edited policy has the same hash")
				}
			}
			stray := crashedRotation(t, o, crashPol, "run-crashed", old, time.Now().UTC().Add(-time.Hour), false)
			mine := o.addKey(acct, "alice", tt.created, tt.used, awsemu.StatusActive)
			if tt.rotatedBy {
				journalRotation(t, o, pol, "run-later", stray, mine.AccessKeyID)
			}

			sum, err := o.engine(pol, "serve").Automate(t.Context(), engine.AutomationRequest{Trigger: engine.TriggerSchedule})
			if err != nil {
				t.Fatal(err)
			}
			if o.status(mine.AccessKeyID) != awsemu.StatusActive || o.status(old) != awsemu.StatusActive {
				t.Fatalf("the owner's key is %s, the old key %s; want both active", o.status(mine.AccessKeyID), o.status(old))
			}
			if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 || sum.Planned[remediate.Rotate] != 0 {
				t.Errorf("alice holds %v, %d rotations planned; want her two keys and no rotation", keys, sum.Planned[remediate.Rotate])
			}
			e := lastOf(t, o, stray)
			if tt.wantFinished {
				if e.Outcome != store.OutcomeFailed || strings.Contains(e.Detail, "deleted") || !strings.Contains(e.Detail, sum.RunID) {
					t.Errorf("the stray's entry ends %s: %q; want failed, nothing deleted, naming run %s", e.Outcome, e.Detail, sum.RunID)
				}
				return
			}
			if e.Outcome != store.OutcomePending {
				t.Errorf("the stray's entry ends %s: %q; want it left for a later run", e.Outcome, e.Detail)
			}
			if p := strings.Join(sum.Problems, "\n"); !strings.Contains(p, mine.AccessKeyID) || !strings.Contains(p, "another policy") {
				t.Errorf("problems %q; want why key %s is left", p, mine.AccessKeyID)
			}
		})
	}
}

// journalRotation journals, as run runID of a plan of its own, the
// rotation of the stray's key done, with newID stored.
func journalRotation(t *testing.T, o *org, pol *policy.Policy, runID string, stray store.Entry, newID string) {
	t.Helper()
	ctx := t.Context()
	lease, err := o.st.Acquire(ctx, runID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	at := time.Now().UTC().Add(-58 * time.Minute)
	if err := lease.CreateRun(ctx, store.Run{ID: runID, Command: "apply", PlanID: "plan-" + runID, PolicyHash: pol.Hash,
		Status: store.RunRunning, StartedAt: at}); err != nil {
		t.Fatal(err)
	}
	e := stray
	e.ID, e.RunID, e.PlanID, e.Outcome, e.Detail, e.IntentAt = 0, runID, "plan-"+runID, "", "", at
	id, err := lease.RecordIntent(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	detail := "new key " + newID + " stored in secret arn:aws:secretsmanager:us-east-1:" + stray.AccountID + ":secret:keywarden/iam-user/alice-AbCdEf; the old key stays active"
	if err := lease.RecordResult(ctx, id, store.Result{Outcome: store.OutcomeDone, Detail: detail, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := lease.FinishRun(ctx, runID, store.RunDone, at); err != nil {
		t.Fatal(err)
	}
}

// dynamoStore is a state store in a new DynamoDB table of moto.
func dynamoStore(t *testing.T, srv *moto.Server) store.Store {
	t.Helper()
	cfg, err := awsx.Load(t.Context(), awsx.Options{Region: "us-east-1", Endpoint: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if err != nil {
		t.Fatal(err)
	}
	table := "keywarden-" + strings.NewReplacer("/", "-", " ", "-", ",", "").Replace(strings.ToLower(t.Name()))
	if err := dynamo.CreateTable(t.Context(), cfg, table); err != nil {
		t.Fatal(err)
	}
	st, err := dynamo.Open(t.Context(), cfg, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
