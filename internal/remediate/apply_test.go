package remediate_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// The executor against the sandbox over HTTP, with a SQLite journal: every
// outcome an action can have, the journal it leaves, resuming, refusing,
// and undo.

const oneDay = 24 * time.Hour

// applyEnv is one account in the sandbox, an operator's key that signs
// every call, and a state store.
type applyEnv struct {
	t       *testing.T
	sb      *awsemu.Sandbox
	account string
	caller  awsemu.Key
	client  *iam.Client
	st      *sqlite.Store
	pol     *policy.Policy
}

func newApplyEnv(t *testing.T) *applyEnv {
	t.Helper()
	e := &applyEnv{t: t, sb: awsemu.New(awsemu.Options{Seed: 9}), pol: policy.Default()}
	var err error
	if e.account, err = e.sb.AddAccount(awsemu.AccountSpec{Name: "workloads"}); err != nil {
		t.Fatal(err)
	}
	e.caller = e.addKey("operator", 300*oneDay, 0, awsemu.StatusActive)
	srv := httptest.NewServer(e.sb)
	t.Cleanup(srv.Close)
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: awsemu.DefaultRegion, Endpoint: srv.URL, MaxBackoff: 50 * time.Millisecond,
		Credentials: credentials.NewStaticCredentialsProvider(e.caller.AccessKeyID, e.caller.SecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	e.client = iam.NewFromConfig(cfg)
	if e.st, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.st.Close() })
	return e
}

// addKey adds a user with one key of age age, last used usedAgo ago (0:
// never).
func (e *applyEnv) addKey(user string, age, usedAgo time.Duration, status string) awsemu.Key {
	e.t.Helper()
	now := e.sb.Clock().Now()
	if err := e.sb.AddUser(awsemu.UserSpec{Account: e.account, Name: user, CreatedAt: now.Add(-age - oneDay)}); err != nil {
		e.t.Fatal(err)
	}
	spec := awsemu.KeySpec{Account: e.account, User: user, Status: status, CreatedAt: now.Add(-age)}
	if usedAgo > 0 {
		spec.LastUsed = now.Add(-usedAgo)
	}
	k, err := e.sb.AddAccessKey(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// action is an action on a key as the plan saw it: its current state in
// the sandbox.
func (e *applyEnv) action(typ, keyID string) remediate.Action {
	e.t.Helper()
	ks, ok := e.sb.AccessKey(keyID)
	if !ok {
		e.t.Fatalf("no key %s", keyID)
	}
	a := remediate.Action{ID: "act-" + typ + "-" + keyID, Type: typ, AccountID: e.account, UserName: ks.User, AccessKeyID: keyID,
		Rules: []string{"max_age"}, Stage: "deactivate", Reason: "test", Key: remediate.KeyState{Status: ks.Status, CreatedAt: ks.CreatedAt}}
	if !ks.LastUsed.IsZero() {
		t := ks.LastUsed
		a.Key.LastUsedAt = &t
	}
	return a
}

func (e *applyEnv) plan(id string, actions ...remediate.Action) *remediate.Plan {
	return &remediate.Plan{SchemaVersion: remediate.SchemaVersion, ID: id, CreatedAt: time.Now().UTC(), AsOf: time.Now().UTC(),
		PolicyHash: e.pol.Hash, Caller: "arn:aws:iam::" + e.account + ":user/operator", Actions: actions}
}

func (e *applyEnv) applier(progress func(remediate.ActionResult)) *remediate.Applier {
	return &remediate.Applier{
		Store: e.st, Policy: e.pol, Caller: "arn:aws:iam::" + e.account + ":user/operator", CallerKeyID: e.caller.AccessKeyID,
		ClientFor: func(account string) remediate.KeyAPI {
			if account != e.account {
				e.t.Errorf("client asked for account %s", account)
			}
			return e.client
		},
		Progress: progress,
	}
}

func (e *applyEnv) status(keyID string) string {
	ks, ok := e.sb.AccessKey(keyID)
	if !ok {
		return "deleted"
	}
	return ks.Status
}

// resultOutline is "user outcome: detail" for each result.
func resultOutline(rs []remediate.ActionResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Action.UserName+" "+r.Outcome+": "+r.Detail)
	}
	return out
}

// TestApplyOutcomes: one plan with an action meeting each case the
// executor distinguishes, then undo of its run.
func TestApplyOutcomes(t *testing.T) {
	e := newApplyEnv(t)
	ctx := t.Context()
	alice := e.addKey("alice", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	bob := e.addKey("bob", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	carol := e.addKey("carol", 120*oneDay, 30*oneDay, awsemu.StatusInactive).AccessKeyID
	dave := e.addKey("dave", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	erin := e.addKey("erin", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	grace := e.addKey("grace", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	heidi := e.addKey("heidi", 85*oneDay, 3*oneDay, awsemu.StatusActive).AccessKeyID
	ivan := e.addKey("ivan", 120*oneDay, 30*oneDay, awsemu.StatusInactive).AccessKeyID

	var actions []remediate.Action
	actions = append(actions, e.action(remediate.Deactivate, alice))
	actions = append(actions, e.action(remediate.Deactivate, bob))
	actions = append(actions, e.action(remediate.Delete, carol))
	dv := e.action(remediate.Delete, dave)
	dv.Key.Status = awsemu.StatusInactive // the plan saw it inactive; it is active again
	actions = append(actions, dv)
	er := e.action(remediate.Deactivate, erin)
	er.Key.CreatedAt = er.Key.CreatedAt.Add(-oneDay) // another key than the one there now
	actions = append(actions, er)
	gr := e.action(remediate.Deactivate, grace)
	earlier := gr.Key.LastUsedAt.Add(-10 * oneDay)
	gr.Key.LastUsedAt = &earlier // used since the plan
	actions = append(actions, gr)
	actions = append(actions, e.action(remediate.Notify, heidi))
	actions = append(actions, e.action(remediate.Delete, ivan))
	own := e.action(remediate.Deactivate, e.caller.AccessKeyID)
	actions = append(actions, own)
	ghost := remediate.Action{ID: "act-ghost", Type: remediate.Deactivate, AccountID: e.account, UserName: "ghost",
		AccessKeyID: "AKIAGHOSTGHOSTGHOST1", Rules: []string{"max_age"}, Key: remediate.KeyState{Status: awsemu.StatusActive, CreatedAt: time.Now().Add(-200 * oneDay)}}
	actions = append(actions, ghost)

	// Changes between the plan and the apply.
	if _, err := e.client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(bob), Status: "Inactive"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: aws.String(carol)}); err != nil {
		t.Fatal(err)
	}

	gs, _ := e.sb.AccessKey(grace)
	graceUsed := gs.LastUsed.Format(time.RFC3339)
	p := e.plan("plan-outcomes", actions...)
	var progress []remediate.ActionResult
	ap := e.applier(func(r remediate.ActionResult) { progress = append(progress, r) })
	if err := ap.Check(ctx, p); err != nil {
		t.Fatalf("Check: %v", err)
	}
	out, err := ap.Apply(ctx, p, "run-1")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := []string{
		"alice done: ",
		"bob already-done: the key was already inactive",
		"carol already-done: the key no longer exists",
		"dave skipped: the key is active again; only inactive keys are deleted",
		"erin skipped: not the key the plan saw (its creation date differs)",
		"grace skipped: used since the plan was made (last used " + graceUsed + "); make a new plan",
		"heidi done: warning recorded; delivered after the apply to the channels configured",
		"ivan done: ",
		"operator skipped: keywarden is signing its own requests with this key",
		"ghost skipped: the key no longer exists",
	}
	got := resultOutline(out.Results)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(got, resultOutline(progress)); diff != "" {
		t.Errorf("progress reported (-results +progress):\n%s", diff)
	}
	if out.Status != store.RunDone || out.RunID != "run-1" {
		t.Errorf("outcome %s %s, want run-1 done", out.RunID, out.Status)
	}
	for _, r := range out.Results {
		if r.Earlier {
			t.Errorf("%s: reported as done earlier", r.Action.UserName)
		}
		if calledAWS := r.Action.UserName == "alice" || r.Action.UserName == "ivan"; calledAWS != (r.RequestID != "") {
			t.Errorf("%s: request ID %q; want one only for the calls that acted", r.Action.UserName, r.RequestID)
		}
	}
	wantStatus := map[string]string{alice: "Inactive", bob: "Inactive", carol: "deleted", dave: "Active", erin: "Active",
		grace: "Active", heidi: "Active", ivan: "deleted", e.caller.AccessKeyID: "Active"}
	gotStatus := map[string]string{}
	for id := range wantStatus {
		gotStatus[id] = e.status(id)
	}
	if diff := cmp.Diff(wantStatus, gotStatus); diff != "" {
		t.Errorf("keys in AWS (-want +got):\n%s", diff)
	}

	// The journal: one entry per action, each with its intent and result.
	run, err := e.st.GetRun(ctx, "run-1")
	if err != nil || run.Status != store.RunDone || run.PlanID != p.ID || run.Command != "apply" || run.FinishedAt.IsZero() {
		t.Errorf("run %+v (%v), want the apply of %s, done", run, err, p.ID)
	}
	entries, err := e.st.Entries(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(actions) {
		t.Fatalf("%d journal entries, want %d", len(entries), len(actions))
	}
	for i, en := range entries {
		r := out.Results[i]
		if en.ActionID != r.Action.ID || en.Outcome != r.Outcome || en.Detail != r.Detail || en.RequestID != r.RequestID ||
			en.IntentAt.IsZero() || en.ResultAt.Before(en.IntentAt) || en.Rule != "max_age" || en.Caller == "" ||
			!en.KeyCreatedAt.Equal(r.Action.Key.CreatedAt) || en.KeyStatus != r.Action.Key.Status {
			t.Errorf("journal entry %+v\ndoes not record result %+v", en, r)
		}
	}
	if _, ok, _ := e.st.DeactivatedAt(ctx, e.account, alice); !ok {
		t.Error("the journal does not know when alice's key was deactivated")
	}

	if err := ap.Check(ctx, p); !errors.Is(err, remediate.ErrAlreadyApplied) || !strings.Contains(err.Error(), "keywarden history --run run-1") {
		t.Errorf("Check after the apply: %v, want ErrAlreadyApplied naming the run", err)
	}
	if _, err := ap.Apply(ctx, p, "run-2"); !errors.Is(err, remediate.ErrAlreadyApplied) {
		t.Errorf("Apply again: %v, want ErrAlreadyApplied", err)
	}

	// Undo reactivates the one key the run deactivated, and lists the one
	// it deleted.
	rep, err := ap.Undo(ctx, "run-1", "undo-1")
	if err != nil {
		t.Fatalf("Undo: %v", err)
	}
	if got := resultOutline(rep.Results); len(got) != 1 || got[0] != "alice done: " || rep.Status != store.RunDone {
		t.Errorf("undo results %v (%s), want alice reactivated", got, rep.Status)
	}
	if len(rep.NotUndone) != 1 || rep.NotUndone[0].AccessKeyID != ivan {
		t.Errorf("not undone %+v, want ivan's deleted key", rep.NotUndone)
	}
	if e.status(alice) != awsemu.StatusActive || e.status(bob) != awsemu.StatusInactive {
		t.Errorf("after undo alice is %s and bob %s; want alice active again, bob (not deactivated by the run) inactive", e.status(alice), e.status(bob))
	}
	if _, ok, _ := e.st.DeactivatedAt(ctx, e.account, alice); ok {
		t.Error("the journal still has alice's key deactivated after the undo")
	}
	if _, err := ap.Undo(ctx, "undo-1", "undo-2"); err == nil || !strings.Contains(err.Error(), "not an apply") {
		t.Errorf("undo of an undo: %v, want a refusal", err)
	}
	if _, err := ap.Undo(ctx, "run-404", "undo-3"); err == nil || !strings.Contains(err.Error(), "keywarden history") {
		t.Errorf("undo of an unknown run: %v, want a refusal pointing at history", err)
	}

	// A run that deactivated nothing has nothing to undo.
	if _, err := ap.Apply(ctx, e.plan("plan-notify", e.action(remediate.Notify, heidi)), "run-3"); err != nil {
		t.Fatal(err)
	}
	if _, err := ap.Undo(ctx, "run-3", "undo-4"); !errors.Is(err, remediate.ErrNothingToUndo) {
		t.Errorf("undo of a run without deactivations: %v, want ErrNothingToUndo", err)
	}
}

// TestApplyResumesFromJournal: an earlier run of the plan that finished
// one action and left another pending. The finished action is trusted and
// not repeated (its key, still active in AWS, is left alone); the pending
// one is re-read and done.
func TestApplyResumesFromJournal(t *testing.T) {
	e := newApplyEnv(t)
	ctx := t.Context()
	k1 := e.addKey("alice", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	k2 := e.addKey("bob", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	k3 := e.addKey("carol", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	p := e.plan("plan-resume", e.action(remediate.Deactivate, k1), e.action(remediate.Deactivate, k2), e.action(remediate.Deactivate, k3))

	// The crashed run, as its journal has it.
	now := time.Now().UTC()
	if err := e.st.CreateRun(ctx, store.Run{ID: "run-crashed", Command: "apply", PlanID: p.ID, PolicyHash: p.PolicyHash, Status: store.RunRunning, StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	for i, a := range p.Actions[:2] {
		id, err := e.st.RecordIntent(ctx, store.Entry{RunID: "run-crashed", PlanID: p.ID, ActionID: a.ID, Action: a.Type, AccountID: a.AccountID,
			UserName: a.UserName, AccessKeyID: a.AccessKeyID, IntentAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := e.st.RecordResult(ctx, id, store.Result{Outcome: store.OutcomeDone, RequestID: "req-earlier", At: now}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Another apply holding the lock: refused, nothing recorded.
	unlock, err := e.st.Lock(ctx, "run-other", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ap := e.applier(nil)
	if _, err := ap.Apply(ctx, p, "run-refused"); !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "run-other") {
		t.Errorf("Apply while another holds the lock: %v, want ErrLocked naming run-other", err)
	}
	if _, err := e.st.GetRun(ctx, "run-refused"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused apply was recorded as a run (%v)", err)
	}
	unlock()

	out, err := ap.Apply(ctx, p, "run-resumed")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := []string{"alice done: ", "bob done: ", "carol done: "}
	if diff := cmp.Diff(want, resultOutline(out.Results)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if !out.Results[0].Earlier || out.Results[0].RequestID != "req-earlier" || out.Results[1].Earlier || out.Results[2].Earlier {
		t.Errorf("results %+v: want only alice's from the earlier run", out.Results)
	}
	if e.status(k1) != awsemu.StatusActive || e.status(k2) != awsemu.StatusInactive || e.status(k3) != awsemu.StatusInactive {
		t.Errorf("keys %s %s %s; want alice's untouched (done earlier, as the journal says), bob's and carol's inactive",
			e.status(k1), e.status(k2), e.status(k3))
	}
	entries, err := e.st.Entries(ctx, "run-resumed")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, en := range entries {
		keys = append(keys, en.AccessKeyID+" "+en.Outcome)
	}
	if diff := cmp.Diff([]string{k2 + " done", k3 + " done"}, keys); diff != "" {
		t.Errorf("resumed run's journal (-want +got):\n%s", diff)
	}
	if _, err := ap.Apply(ctx, p, "run-again"); !errors.Is(err, remediate.ErrAlreadyApplied) {
		t.Errorf("Apply after the resumed run finished: %v, want ErrAlreadyApplied", err)
	}
}

// TestApplyFailedAction: AWS refusing an action records it as failed, the
// run as failed, and goes on with the others.
func TestApplyFailedAction(t *testing.T) {
	e := newApplyEnv(t)
	ctx := t.Context()
	k1 := e.addKey("alice", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	k2 := e.addKey("bob", 120*oneDay, 30*oneDay, awsemu.StatusInactive).AccessKeyID
	e.sb.SetFaults(awsemu.Fault{Operation: "UpdateAccessKey", Deny: true})
	p := e.plan("plan-fail", e.action(remediate.Deactivate, k1), e.action(remediate.Delete, k2))
	out, err := e.applier(nil).Apply(ctx, p, "run-1")
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got := resultOutline(out.Results)
	if len(got) != 2 || !strings.HasPrefix(got[0], "alice failed: AccessDenied: ") || got[1] != "bob done: " || out.Status != store.RunFailed {
		t.Errorf("results %v (%s), want alice's denied, bob's deleted, the run failed", got, out.Status)
	}
	if out.Results[0].RequestID == "" {
		t.Error("the failed call's request ID is not recorded")
	}
	if e.status(k1) != awsemu.StatusActive || e.status(k2) != "deleted" {
		t.Errorf("keys %s %s, want alice's active, bob's deleted", e.status(k1), e.status(k2))
	}
}

// TestApplyCheck: the refusals of Check, each with what to run instead.
func TestApplyCheck(t *testing.T) {
	e := newApplyEnv(t)
	ctx := t.Context()
	k := e.addKey("alice", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	base := func() *remediate.Plan { return e.plan("plan-check", e.action(remediate.Deactivate, k)) }
	other := policy.Default()
	other.Safety.MaxActions = 7
	other.Hash = "another-hash"
	other.Source = "/etc/keywarden.yaml"
	tests := []struct {
		name   string
		change func(*remediate.Plan, *remediate.Applier)
		err    error
		says   []string
	}{
		{"ok", func(*remediate.Plan, *remediate.Applier) {}, nil, nil},
		{"version", func(p *remediate.Plan, _ *remediate.Applier) { p.SchemaVersion = 2 }, remediate.ErrPlanVersion, []string{"keywarden plan"}},
		{"stale", func(_ *remediate.Plan, ap *remediate.Applier) {
			ap.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
		}, remediate.ErrStalePlan, []string{"safety.max_plan_age is 1d", "keywarden plan"}},
		{"other policy", func(_ *remediate.Plan, ap *remediate.Applier) { ap.Policy = other }, remediate.ErrPolicyChanged, []string{"/etc/keywarden.yaml", "keywarden plan"}},
		{"over the limits", func(p *remediate.Plan, _ *remediate.Applier) {
			p.Limits = remediate.Limits{Exceeded: true, Reasons: []string{"too many"}}
		}, remediate.ErrOverLimits, []string{"too many", "--unsafe-allow-bulk", "nothing was applied"}},
		{"forecast", func(p *remediate.Plan, _ *remediate.Applier) { p.AsOf = p.CreatedAt.Add(30 * oneDay) },
			remediate.ErrForecast, []string{"without --as-of", "--unsafe-allow-forecast"}},
		{"forecast, allowed", func(p *remediate.Plan, ap *remediate.Applier) {
			p.AsOf = p.CreatedAt.Add(30 * oneDay)
			ap.UnsafeAllowForecast = true
		}, nil, nil},
		{"over the limits, allowed", func(p *remediate.Plan, ap *remediate.Applier) {
			p.Limits = remediate.Limits{Exceeded: true, Reasons: []string{"too many"}}
			ap.UnsafeAllowBulk = true
		}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ap := base(), e.applier(nil)
			tt.change(p, ap)
			err := ap.Check(ctx, p)
			if (tt.err == nil) != (err == nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Fatalf("Check: %v, want %v", err, tt.err)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Check: %q, want it to say %q", err, s)
				}
			}
			if tt.err != nil {
				if _, err := ap.Apply(ctx, p, "run-"+strings.ReplaceAll(tt.name, " ", "-")); !errors.Is(err, tt.err) {
					t.Errorf("Apply: %v, want %v", err, tt.err)
				}
				if e.status(k) != awsemu.StatusActive {
					t.Fatalf("the key was changed by a refused plan")
				}
			}
		})
	}
}
