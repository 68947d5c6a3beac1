package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// clocked is a run on the sandbox's clock, so that days can pass.
func (o *org) clocked(pol *policy.Policy, command string) *engine.Engine {
	e := o.engine(pol, command)
	e.Now = o.sb.Clock().Now
	return e
}

// planApply plans and applies in one go, as 'apply --auto-approve' does.
func (o *org) planApply(pol *policy.Policy) (*remediate.Plan, *engine.ApplyResult) {
	o.t.Helper()
	r := orgRead
	r.AsOf = o.sb.Clock().Now()
	planned, err := o.clocked(pol, "plan").Plan(o.t.Context(), r)
	if err != nil {
		o.t.Fatal(err)
	}
	if !planned.Plan.Changes() && planned.Plan.Summary().Notify == 0 {
		return planned.Plan, nil
	}
	res, err := o.clocked(pol, "apply").Apply(o.t.Context(), engine.ApplyRequest{Plan: roundTrip(o.t, planned.Plan), Read: orgRead})
	if err != nil {
		o.t.Fatalf("Apply: %v", err)
	}
	return planned.Plan, res
}

// useKey signs a call with a key: the sandbox verifies the signature and
// records the use.
func (o *org) useKey(id, secret string) {
	o.t.Helper()
	c := sts.New(sts.Options{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(o.url),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")})
	if _, err := c.GetCallerIdentity(o.t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		o.t.Fatalf("sign a call with %s: %v", id, err)
	}
}

// rotateAlice rotates alice's 95-day-old key, in use an hour ago, and
// returns the old key and the new one from the secret.
func rotateAlice(t *testing.T, o *org, pol *policy.Policy) (old awsemu.Key, newKey secretValue, arn string) {
	t.Helper()
	owner := awsemu.Tag{Key: "owner", Value: "alice@example.com"}
	old = o.addKey(o.prod, "alice", 95*day, time.Hour, awsemu.StatusActive, owner)
	_, res := o.planApply(pol)
	if res == nil || len(res.Outcome.Results) != 1 || res.Outcome.Results[0].Outcome != store.OutcomeDone {
		t.Fatalf("rotation: %+v", res)
	}
	sec, ok := o.sb.Secret(o.prod, awsemu.DefaultRegion, "keywarden/iam-user/alice")
	if !ok {
		t.Fatal("no secret")
	}
	cur, _ := sec.Current()
	if err := json.Unmarshal([]byte(cur.SecretString), &newKey); err != nil {
		t.Fatal(err)
	}
	o.secrets = append(o.secrets, newKey.SecretAccessKey)
	return old, newKey, sec.ARN
}

func rotationOf(t *testing.T, p *remediate.Plan, old string) remediate.RotationState {
	t.Helper()
	for _, r := range p.Rotations {
		if r.OldKeyID == old {
			return r
		}
	}
	t.Fatalf("the plan shows no rotation of %s: %+v", old, p.Rotations)
	return remediate.RotationState{}
}

func actionOn(p *remediate.Plan, key string) *remediate.Action {
	for i := range p.Actions {
		if p.Actions[i].AccessKeyID == key {
			return &p.Actions[i]
		}
	}
	return nil
}

// TestCutover: the old key stays active until the new key is used (IAM
// shows the use late: the sandbox's last-use delay) and the old key has
// been quiet for the window; then the next apply deactivates it, a later
// one deletes it after the delete stage; undo of the cutover reactivates
// the old key and leaves the new one in place.
func TestCutover(t *testing.T) {
	o := newOrg(t, 1)
	h := newRawHook(t)
	pol := rotationPolicy(t, h.URL)
	o.sb.SetLastUsedDelay(4 * time.Hour)
	clock := o.sb.Clock()
	old, nk, arn := rotateAlice(t, o, pol)

	// The application switches to the new key at once; IAM does not show
	// it yet, so nothing happens to the old key.
	o.useKey(nk.AccessKeyID, nk.SecretAccessKey)
	p, res := o.planApply(pol)
	if a := actionOn(p, old.AccessKeyID); a != nil {
		t.Errorf("right after the rotation the plan has %s %s", a.Type, a.AccessKeyID)
	}
	if r := rotationOf(t, p, old.AccessKeyID); r.Phase != remediate.PhaseWaitingForUse || r.NewKeyID != nk.AccessKeyID || r.SecretARN != arn {
		t.Errorf("rotation %+v, want waiting for the new key's use", r)
	}
	_ = res

	// Five hours on, IAM shows the use: the old key must now be quiet for
	// the window (a day) from the rotation.
	clock.Advance(5 * time.Hour)
	p, _ = o.planApply(pol)
	r := rotationOf(t, p, old.AccessKeyID)
	if r.Phase != remediate.PhaseWaitingForQuiet || r.NewKeyUsedAt == nil || r.CutoverAt == nil {
		t.Fatalf("rotation %+v, want the new key in use, waiting for the old key to be quiet", r)
	}
	if a := actionOn(p, old.AccessKeyID); a != nil {
		t.Errorf("before the quiet window the plan has %s %s", a.Type, a.AccessKeyID)
	}
	if o.status(old.AccessKeyID) != awsemu.StatusActive {
		t.Fatalf("old key %s before the cutover", o.status(old.AccessKeyID))
	}

	// A use of the old key after the rotation moves the cutover later.
	o.useKey(old.AccessKeyID, old.SecretAccessKey)
	clock.Advance(20 * time.Hour) // 25h after the rotation, 20h after the old key's use
	p, _ = o.planApply(pol)
	if r := rotationOf(t, p, old.AccessKeyID); r.Phase != remediate.PhaseWaitingForQuiet || !r.CutoverAt.After(clock.Now()) {
		t.Errorf("rotation %+v, want the cutover moved after the old key's last use", r)
	}
	if o.status(old.AccessKeyID) != awsemu.StatusActive {
		t.Fatalf("old key %s, used 20h ago, was deactivated", o.status(old.AccessKeyID))
	}

	// Quiet for the window, and for IAM's delay in showing a use: the
	// cutover.
	clock.Advance(9 * time.Hour)
	p, res = o.planApply(pol)
	a := actionOn(p, old.AccessKeyID)
	if a == nil || a.Type != remediate.Deactivate || a.Stage != "cutover" || !strings.Contains(a.Reason, nk.AccessKeyID) {
		t.Fatalf("the plan has %+v for the old key, want the cutover's deactivation", a)
	}
	if rotationOf(t, p, old.AccessKeyID).Phase != remediate.PhaseCutoverDue {
		t.Errorf("rotation phase %s, want %s", rotationOf(t, p, old.AccessKeyID).Phase, remediate.PhaseCutoverDue)
	}
	if o.status(old.AccessKeyID) != awsemu.StatusInactive || o.status(nk.AccessKeyID) != awsemu.StatusActive {
		t.Fatalf("after the cutover: old %s, new %s", o.status(old.AccessKeyID), o.status(nk.AccessKeyID))
	}
	cutoverRun := res.Outcome.RunID
	told := false
	for _, it := range h.items(t) {
		told = told || (it.Action == notify.ActionDeactivated && it.AccessKeyID == old.AccessKeyID)
	}
	if !told {
		t.Errorf("the owner was not told of the cutover")
	}

	// Undo of the cutover: the old key is active again, the new key and
	// its secret stay.
	rep, err := o.clocked(pol, "undo").Undo(t.Context(), engine.UndoRequest{RunID: cutoverRun})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Outcome != store.OutcomeDone {
		t.Errorf("undo results %+v", rep.Results)
	}
	if o.status(old.AccessKeyID) != awsemu.StatusActive || o.status(nk.AccessKeyID) != awsemu.StatusActive || len(o.sb.Secrets(o.prod)) != 1 {
		t.Fatalf("after undo: old %s, new %s, %d secrets", o.status(old.AccessKeyID), o.status(nk.AccessKeyID), len(o.sb.Secrets(o.prod)))
	}

	// The next run cuts over again (the old key is still quiet); the
	// delete stage deletes it once it has been inactive for the gap.
	o.planApply(pol)
	if o.status(old.AccessKeyID) != awsemu.StatusInactive {
		t.Fatalf("old key %s, want deactivated again", o.status(old.AccessKeyID))
	}
	clock.Advance(5 * day)
	p, _ = o.planApply(pol)
	if a := actionOn(p, old.AccessKeyID); a != nil {
		t.Errorf("before the delete stage the plan has %s %s", a.Type, a.AccessKeyID)
	}
	clock.Advance(35 * day) // the old key is 136 days old, inactive for 40
	p, _ = o.planApply(pol)
	if a := actionOn(p, old.AccessKeyID); a == nil || a.Type != remediate.Delete {
		t.Fatalf("at the delete stage the plan has %+v, want the old key deleted", a)
	}
	if o.status(old.AccessKeyID) != "deleted" || o.status(nk.AccessKeyID) != awsemu.StatusActive {
		t.Errorf("old %s, new %s; want deleted and active", o.status(old.AccessKeyID), o.status(nk.AccessKeyID))
	}
	o.noSecretLeaks(t, h)
}

// TestCutoverDeadline: the new key never used by the old key's deactivate
// stage: by default the old key is held and the owner and the security
// team are told; with rotation.on_deadline: deactivate it is deactivated.
func TestCutoverDeadline(t *testing.T) {
	for _, tt := range []struct {
		onDeadline string
		want       string
	}{{"", awsemu.StatusActive}, {"deactivate", awsemu.StatusInactive}} {
		t.Run("on_deadline="+tt.onDeadline, func(t *testing.T) {
			o := newOrg(t, 1)
			h := newRawHook(t)
			t.Setenv("KW_ROTATION_HOOK_SECRET", "whsec-rotation")
			y := rotationYAML
			if tt.onDeadline != "" {
				y += "  on_deadline: " + tt.onDeadline + "\n"
			}
			pol := mustPolicy(t, y+`notifications:
  owner_tags: [owner]
  owner_channel: hook
  security_team: {contact: secops@example.com, channel: hook}
  channels:
    hook: {type: webhook, url: "`+h.URL+`", secret_env: KW_ROTATION_HOOK_SECRET}
`)
			old, _, _ := rotateAlice(t, o, pol)
			o.sb.Clock().Advance(26 * day) // the old key is 121 days old: past its deactivate stage
			p, res := o.planApply(pol)
			if got := o.status(old.AccessKeyID); got != tt.want {
				t.Fatalf("old key %s at the deadline, want %s", got, tt.want)
			}
			r := rotationOf(t, p, old.AccessKeyID)
			if tt.onDeadline == "" {
				if r.Phase != remediate.PhaseHeld {
					t.Errorf("phase %s, want %s", r.Phase, remediate.PhaseHeld)
				}
				held := false
				for _, w := range p.Withheld {
					held = held || (w.AccessKeyID == old.AccessKeyID && w.Guard == remediate.GuardCutoverHold)
				}
				if !held {
					t.Errorf("withheld %+v, want the deactivation held by %s", p.Withheld, remediate.GuardCutoverHold)
				}
				if a := actionOn(p, old.AccessKeyID); a == nil || a.Type != remediate.Notify || !strings.Contains(a.Reason, "never been used") {
					t.Errorf("action %+v, want a warning saying the new key was never used", a)
				}
				// Escalated: the owner and the security team are both told.
				var owner, team bool
				for _, b := range h.bodies {
					var d notify.WebhookDigest
					if err := json.Unmarshal([]byte(b), &d); err != nil {
						t.Fatal(err)
					}
					for _, it := range d.Items {
						if it.AccessKeyID == old.AccessKeyID && strings.Contains(it.Message, "never been used") {
							owner = owner || !d.Recipient.Team
							team = team || d.Recipient.Team
						}
					}
				}
				if !owner || !team {
					t.Errorf("escalation: owner told %v, security team told %v; want both", owner, team)
				}
			} else {
				if r.Phase != remediate.PhaseDeadline {
					t.Errorf("phase %s, want %s", r.Phase, remediate.PhaseDeadline)
				}
				if res == nil || res.Outcome.Counts()[store.OutcomeDone] == 0 {
					t.Errorf("apply %+v, want the old key deactivated", res)
				}
			}
			o.noSecretLeaks(t, h)
		})
	}
}

// noSecretLeaks searches the journal of every run and every notification
// for the secrets of every key the test made or read from a secret.
func (o *org) noSecretLeaks(t *testing.T, h *rawHook) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	runs, err := o.st.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, r := range runs {
		es, err := o.st.Entries(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(es)
		texts = append(texts, string(b))
		ns, err := o.st.Notifications(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = json.Marshal(ns)
		texts = append(texts, string(b))
	}
	if h != nil {
		texts = append(texts, h.bodies...)
	}
	all := strings.Join(texts, "\n")
	for _, s := range o.secrets {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("a key's secret is in the journal or the notifications")
		}
	}
}

// TestRotationQuotaDeletesInactiveFirst: a user holding an active key due
// for rotation and an inactive key whose delete stage is due gets the
// inactive key deleted first, then the rotation, in one run; with two
// active keys nothing is deleted or deactivated to make room.
func TestRotationQuotaDeletesInactiveFirst(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, rotationYAML)
	ctx := t.Context()
	old := o.addKey(o.prod, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	spare := o.addKey(o.prod, "alice", 200*day, 0, awsemu.StatusInactive)
	// keywarden deactivated the spare key 30 days ago: its delete stage
	// (10 days after deactivation) is due.
	lease, err := o.st.Acquire(ctx, "run-earlier", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	then := o.sb.Clock().Now().Add(-30 * day)
	if err := lease.CreateRun(ctx, store.Run{ID: "run-earlier", Command: "apply", PlanID: "plan-earlier", PolicyHash: pol.Hash,
		Status: store.RunRunning, StartedAt: then}); err != nil {
		t.Fatal(err)
	}
	id, err := lease.RecordIntent(ctx, store.Entry{RunID: "run-earlier", PlanID: "plan-earlier", ActionID: "act-earlier", Action: store.ActionDeactivate,
		AccountID: o.prod, UserName: "alice", AccessKeyID: spare.AccessKeyID, KeyStatus: awsemu.StatusActive, IntentAt: then})
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.RecordResult(ctx, id, store.Result{Outcome: store.OutcomeDone, At: then}); err != nil {
		t.Fatal(err)
	}
	lease.FinishRun(ctx, "run-earlier", store.RunDone, then)
	lease.Release()

	p, res := o.planApply(pol)
	var got []string
	for _, a := range p.Actions {
		if a.UserName == "alice" {
			got = append(got, a.Type+" "+a.AccessKeyID)
		}
	}
	if want := []string{"delete " + spare.AccessKeyID, "rotate " + old}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("alice's actions %v, want %v (the deletion first)", got, want)
	}
	if a := actionOn(p, old); !strings.Contains(a.Reason, "deleted first to make room") {
		t.Errorf("the rotation says %q, want why it can go ahead", a.Reason)
	}
	for _, r := range res.Outcome.Results {
		if r.Action.UserName == "alice" && r.Outcome != store.OutcomeDone {
			t.Errorf("%s %s: %s (%s)", r.Action.Type, r.Action.AccessKeyID, r.Outcome, r.Detail)
		}
	}
	keys := keysOf(t, o, o.prod, "alice")
	if o.status(spare.AccessKeyID) != "deleted" || o.status(old) != awsemu.StatusActive || len(keys) != 2 {
		t.Errorf("alice holds %v; want the old key and the new one, the spare deleted", keys)
	}

	// Two active keys: not rotated, and neither is touched.
	o2 := newOrg(t, 1)
	a1 := o2.addKey(o2.prod, "bob", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	a2 := o2.addKey(o2.prod, "bob", 100*day, time.Hour, awsemu.StatusActive).AccessKeyID
	p, _ = o2.planApply(pol)
	for _, a := range p.Actions {
		if a.UserName == "bob" && a.Type != remediate.Notify {
			t.Errorf("bob's plan has %s %s", a.Type, a.AccessKeyID)
		}
	}
	quota := 0
	for _, w := range p.Withheld {
		if w.UserName == "bob" && w.Guard == remediate.GuardKeyQuota {
			quota++
		}
	}
	if quota != 2 || o2.status(a1) != awsemu.StatusActive || o2.status(a2) != awsemu.StatusActive || len(keysOf(t, o2, o2.prod, "bob")) != 2 {
		t.Errorf("bob: %d rotations withheld by key-quota (want 2), keys %v", quota, keysOf(t, o2, o2.prod, "bob"))
	}
}

// TestRotationMultipleActive: during a rotation the user holds two active
// keys on purpose; multiple_active, even set to deactivate the less used
// key, neither warns about them nor deactivates the new key.
func TestRotationMultipleActive(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, strings.Replace(rotationYAML, "multiple_active: {enabled: false}", "multiple_active: {action: deactivate_less_used}", 1))
	old, nk, _ := rotateAlice(t, o, pol)
	p, _ := o.planApply(pol)
	for _, a := range p.Actions {
		if a.UserName == "alice" {
			t.Errorf("during the rotation the plan has %s %s (%v)", a.Type, a.AccessKeyID, a.Rules)
		}
	}
	if o.status(old.AccessKeyID) != awsemu.StatusActive || o.status(nk.AccessKeyID) != awsemu.StatusActive {
		t.Errorf("old %s, new %s; want both active", o.status(old.AccessKeyID), o.status(nk.AccessKeyID))
	}
	held := false
	for _, w := range p.Withheld {
		held = held || (w.AccessKeyID == nk.AccessKeyID && w.Guard == remediate.GuardCutover)
	}
	if !held {
		t.Errorf("withheld %+v, want the new key's deactivation withheld by %s", p.Withheld, remediate.GuardCutover)
	}
}
