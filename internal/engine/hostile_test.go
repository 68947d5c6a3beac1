package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// Hostile cases: ways a user, an operator or the clock could lead
// keywarden to change a key it must not.

// cutoverDue rotates alice, has the application switch to the new key, and
// lets the old key be quiet past the window: the next plan cuts over.
func cutoverDue(t *testing.T, o *org, pol *policy.Policy) (old awsemu.Key, nk secretValue) {
	t.Helper()
	old, nk, _ = rotateAlice(t, o, pol)
	o.sb.Clock().Advance(2 * time.Hour)
	o.useKey(nk.AccessKeyID, nk.SecretAccessKey)
	o.sb.Clock().Advance(2 * day)
	return old, nk
}

// TestRotateOnDemandActsOnItsUserOnly: 'keywarden rotate --user carol' is
// a plan for carol. alice's cutover being due at the same time is no
// reason to deactivate her old key in carol's run — the less so when
// alice is exempt now.
func TestRotateOnDemandActsOnItsUserOnly(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, rotationYAML)
	old, _ := cutoverDue(t, o, pol)
	exempting := mustPolicy(t, rotationYAML+`exemptions:
  - users: [alice]
    reason: "the vendor appliance cannot switch keys; SEC-9"
`)
	for user, p := range map[string]*policy.Policy{"carol": exempting, "erin": pol} {
		o.addKey(o.prod, user, 10*day, time.Hour, awsemu.StatusActive)
		// From the IAM API every key's ID is read, alice's too.
		r := orgRead
		r.Source = inventory.SourceAPI
		r.AsOf = o.sb.Clock().Now()
		res, err := o.clocked(p, "rotate").Rotate(t.Context(), engine.RotateRequest{AccountID: o.prod, UserName: user, Read: r})
		if err != nil {
			t.Fatalf("rotate %s: %v", user, err)
		}
		for _, a := range res.Plan.Actions {
			if a.UserName != user {
				t.Errorf("the plan of 'rotate --user %s' has %s %s of %s", user, a.Type, a.AccessKeyID, a.UserName)
			}
		}
		if got := o.status(old.AccessKeyID); got != awsemu.StatusActive {
			t.Fatalf("alice's old key is %s after rotating %s's key", got, user)
		}
	}
	// The cutover itself is due: a plan of the organization makes it.
	p, _ := o.planApply(pol)
	if a := actionOn(p, old.AccessKeyID); a == nil || a.Type != remediate.Deactivate {
		t.Fatalf("the plan has %+v for alice's old key, want the cutover", a)
	}
}

// TestCutoverHonoursExemptions: a user exempted after its key was
// rotated (on demand, while the key was young: no rule fires on it) is not
// cut over: an exemption means keywarden leaves the user's keys alone.
func TestCutoverHonoursExemptions(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, rotationYAML)
	old := o.addKey(o.prod, "dave", 10*day, time.Hour, awsemu.StatusActive)
	if _, err := o.clocked(pol, "rotate").Rotate(t.Context(), engine.RotateRequest{AccountID: o.prod, UserName: "dave", Read: orgRead}); err != nil {
		t.Fatal(err)
	}
	sec, ok := o.sb.Secret(o.prod, awsemu.DefaultRegion, "keywarden/iam-user/dave")
	if !ok {
		t.Fatal("no secret")
	}
	cur, _ := sec.Current()
	var nk secretValue
	if err := json.Unmarshal([]byte(cur.SecretString), &nk); err != nil {
		t.Fatal(err)
	}
	o.secrets = append(o.secrets, nk.SecretAccessKey)
	o.sb.Clock().Advance(time.Hour)
	o.useKey(nk.AccessKeyID, nk.SecretAccessKey)
	o.sb.Clock().Advance(2 * day)
	exempting := mustPolicy(t, rotationYAML+`exemptions:
  - users: [dave]
    reason: "the vendor appliance cannot switch keys; SEC-9"
`)
	p, _ := o.planApply(exempting)
	if a := actionOn(p, old.AccessKeyID); a != nil && a.Type != remediate.Notify {
		t.Errorf("the plan has %s %s of exempt dave", a.Type, a.AccessKeyID)
	}
	if got := o.status(old.AccessKeyID); got != awsemu.StatusActive {
		t.Fatalf("exempt dave's old key is %s", got)
	}
	// Without the exemption the cutover is due: the test can fail.
	p, _ = o.planApply(pol)
	if a := actionOn(p, old.AccessKeyID); a == nil || a.Type != remediate.Deactivate {
		t.Fatalf("without the exemption the plan has %+v, want the cutover", a)
	}
}

// TestUndoOnlyWhatTheRunDid: undo of a run reactivates a key only while
// that run's deactivation is the one in force. A key keywarden
// reactivated, then deactivated again — by a later run, or by someone
// else (incident response disabling a leaked key, before any use shows)
// — is not the undone run's to restore.
func TestUndoOnlyWhatTheRunDid(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, stagedYAML)
	key := o.addKey(o.prod, "alice", 105*day, 0, awsemu.StatusActive).AccessKeyID
	responder := o.addKey(o.prod, "responder", 5*day, 0, awsemu.StatusActive)
	undo := func(run string) *remediate.UndoReport {
		t.Helper()
		rep, err := o.clocked(pol, "undo").Undo(t.Context(), engine.UndoRequest{RunID: run})
		if err != nil {
			t.Fatalf("undo %s: %v", run, err)
		}
		return rep
	}
	_, first := o.planApply(pol)
	if o.status(key) != awsemu.StatusInactive {
		t.Fatalf("the first run left the key %s", o.status(key))
	}
	undo(first.Outcome.RunID)
	if o.status(key) != awsemu.StatusActive {
		t.Fatalf("undo left the key %s", o.status(key))
	}
	o.sb.Clock().Advance(time.Hour)
	_, second := o.planApply(pol)
	if second == nil || o.status(key) != awsemu.StatusInactive {
		t.Fatalf("the second run left the key %s", o.status(key))
	}

	// The key is inactive by the second run's doing: undoing the first
	// run again must leave it so.
	o.sb.Clock().Advance(time.Hour)
	up, err := o.clocked(pol, "undo").PreviewUndo(t.Context(), first.Outcome.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Reactivate) != 0 {
		t.Errorf("undo of the first run would reactivate %+v, deactivated again by the second run", up.Reactivate)
	}
	undo(first.Outcome.RunID)
	if o.status(key) != awsemu.StatusInactive {
		t.Fatalf("undo of the first run reactivated the key the second run deactivated")
	}
	undo(second.Outcome.RunID)
	if o.status(key) != awsemu.StatusActive {
		t.Fatalf("undo of the second run left the key %s", o.status(key))
	}

	// Incident response disables the key, which has not been used since.
	c := iam.New(iam.Options{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(o.url),
		Credentials: credentials.NewStaticCredentialsProvider(responder.AccessKeyID, responder.SecretAccessKey, "")})
	if _, err := c.UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(key),
		Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	o.sb.Clock().Advance(time.Hour)
	undo(second.Outcome.RunID)
	if o.status(key) != awsemu.StatusInactive {
		t.Fatalf("a second undo reactivated the key incident response disabled")
	}
}

// TestCutoverNeedsTheNewKeyActive: the new key was used, then someone
// deactivated it (it leaked, or the owner stepped back to the old key).
// The cutover's premise — the application has moved to a working key — no
// longer holds: deactivating the old key would leave the user no working
// key at all.
func TestCutoverNeedsTheNewKeyActive(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, rotationYAML)
	responder := o.addKey(o.prod, "responder", 5*day, 0, awsemu.StatusActive)
	old, nk := cutoverDue(t, o, pol)
	c := iam.New(iam.Options{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(o.url),
		Credentials: credentials.NewStaticCredentialsProvider(responder.AccessKeyID, responder.SecretAccessKey, "")})
	if _, err := c.UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(nk.AccessKeyID),
		Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	p, _ := o.planApply(pol)
	if a := actionOn(p, old.AccessKeyID); a != nil && a.Type != remediate.Notify {
		t.Errorf("the plan has %s %s while the new key is inactive", a.Type, a.AccessKeyID)
	}
	if got := o.status(old.AccessKeyID); got != awsemu.StatusActive {
		t.Fatalf("the old key is %s and the new key inactive: the user has no working key", got)
	}
	if r := rotationOf(t, p, old.AccessKeyID); r.Phase == remediate.PhaseCutoverDue {
		t.Errorf("phase %s with the new key inactive", r.Phase)
	}
	// Active again, the new key lets the cutover go ahead.
	if _, err := c.UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(nk.AccessKeyID),
		Status: iamtypes.StatusTypeActive}); err != nil {
		t.Fatal(err)
	}
	if p, _ := o.planApply(pol); actionOn(p, old.AccessKeyID) == nil || o.status(old.AccessKeyID) != awsemu.StatusInactive {
		t.Fatalf("with the new key active again the old key is %s", o.status(old.AccessKeyID))
	}
}

// TestRotationResumeLeavesOthersKeys: a rotation cut off before it created
// its key, and resumed later; meanwhile the owner created a key by hand.
// Resuming must not take that key for the interrupted run's orphan: it
// was created long after the run's attempt, or it has been used (the
// orphan's secret was never anywhere, so nobody can use it).
func TestRotationResumeLeavesOthersKeys(t *testing.T) {
	for _, tt := range []struct {
		name    string
		created time.Duration // before the resume
		used    time.Duration // 0: never
	}{
		{"created after the attempt, unused", 40 * time.Minute, 0},
		{"created right after the attempt, used", 55 * time.Minute, 10 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrg(t, 1)
			acct := o.prod
			old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
			pol := mustPolicy(t, rotationYAML)
			ctx := t.Context()
			planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
			if err != nil {
				t.Fatal(err)
			}
			a := planned.Plan.Actions[0]
			journalCrash(t, o, pol, planned.Plan, a, "run-crashed", time.Now().UTC().Add(-time.Hour))
			mine := o.addKey(acct, "alice", tt.created, tt.used, awsemu.StatusActive)

			res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			r := res.Outcome.Results[0]
			if o.status(mine.AccessKeyID) != awsemu.StatusActive || o.status(old) != awsemu.StatusActive {
				t.Fatalf("the owner's key is %s, the old key %s (%s: %s); want both active", o.status(mine.AccessKeyID), o.status(old), r.Outcome, r.Detail)
			}
			if r.Outcome == store.OutcomeDone {
				t.Errorf("result %s: %s; want the rotation not done (the user holds two keys)", r.Outcome, r.Detail)
			}
		})
	}
}

// TestNewKeyNotDeactivatedBeforeTheDeadline: the owner is told to move to
// the new key before the old key's deadline. A rule that deactivates keys
// never used (unused_initial, 7 days by default) must not deactivate the
// new key meanwhile: the owner would switch to a dead key.
func TestNewKeyNotDeactivatedBeforeTheDeadline(t *testing.T) {
	o := newOrg(t, 1)
	y := strings.Replace(rotationYAML, "  unused_initial: {enabled: false}\n", "  unused_initial: {deactivate: 7d}\n", 1)
	pol := mustPolicy(t, y)
	old, nk, _ := rotateAlice(t, o, pol)
	o.sb.Clock().Advance(8 * day)
	p, _ := o.planApply(pol)
	if a := actionOn(p, nk.AccessKeyID); a != nil && a.Type != remediate.Notify {
		t.Errorf("the plan has %s of the new key %s, 8 days into its rotation", a.Type, nk.AccessKeyID)
	}
	if got := o.status(nk.AccessKeyID); got != awsemu.StatusActive {
		t.Fatalf("the new key is %s 8 days after the rotation, before the deadline", got)
	}
	if got := o.status(old.AccessKeyID); got != awsemu.StatusActive {
		t.Fatalf("the old key is %s", got)
	}
	// The rule itself works: a key never used, 8 days old, of a user
	// without a rotation is deactivated.
	other := o.addKey(o.prod, "bob", 8*day, 0, awsemu.StatusActive)
	o.planApply(pol)
	if got := o.status(other.AccessKeyID); got != awsemu.StatusInactive {
		t.Fatalf("bob's unused key is %s, want deactivated by unused_initial", got)
	}
}

// TestNewKeyKeptAfterTheDeadline: with rotation.on_deadline: deactivate,
// the old key goes at the deadline though the new key was never used; the
// new key is then the owner's way back, and no rule takes it away too.
func TestNewKeyKeptAfterTheDeadline(t *testing.T) {
	o := newOrg(t, 1)
	y := strings.Replace(rotationYAML, "  unused_initial: {enabled: false}\n", "  unused_initial: {deactivate: 7d}\n", 1)
	pol := mustPolicy(t, y+"  on_deadline: deactivate\n")
	old, nk, _ := rotateAlice(t, o, pol)
	o.sb.Clock().Advance(26 * day) // past the old key's deactivate stage
	o.planApply(pol)
	if got := o.status(old.AccessKeyID); got != awsemu.StatusInactive {
		t.Fatalf("the old key is %s at the deadline, want deactivated (on_deadline: deactivate)", got)
	}
	o.sb.Clock().Advance(time.Hour)
	o.planApply(pol)
	if got := o.status(nk.AccessKeyID); got != awsemu.StatusActive {
		t.Fatalf("the new key is %s after the old one was deactivated: the user has no working key", got)
	}
}

// skewedDate answers with AWS's clock (the Date header) off by skew from
// this machine's: as if this machine's clock were -skew ahead.
type skewedDate struct {
	h    http.Handler
	skew time.Duration
}

func (s skewedDate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", time.Now().Add(s.skew).UTC().Format(http.TimeFormat))
	s.h.ServeHTTP(w, r)
}

// TestApplyRefusesASkewedClock: the SDK corrects its signatures for a
// machine whose clock is off, so AWS still answers; but keywarden judges
// key ages, last uses and the recent-use guard by its own clock. A clock
// two days ahead makes a key used yesterday look quiet: apply and undo
// refuse to act until the clock is right.
func TestApplyRefusesASkewedClock(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, stagedYAML)
	key := o.addKey(o.prod, "alice", 105*day, 0, awsemu.StatusActive).AccessKeyID
	planned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
	if err != nil {
		t.Fatal(err)
	}
	skewed := httptest.NewServer(skewedDate{o.sb, -48 * time.Hour})
	t.Cleanup(skewed.Close)
	e := o.engineAt(pol, "apply", skewed.URL)
	_, err = e.Apply(t.Context(), engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if !errors.Is(err, engine.ErrClockSkew) || !strings.Contains(err.Error(), "48h0m0s ahead") {
		t.Fatalf("apply with the clock 48h ahead: %v; want %v saying how far", err, engine.ErrClockSkew)
	}
	if o.status(key) != awsemu.StatusActive {
		t.Fatalf("the key is %s after a refused apply", o.status(key))
	}
	// A clock a few seconds off is no reason to refuse.
	near := httptest.NewServer(skewedDate{o.sb, 3 * time.Second})
	t.Cleanup(near.Close)
	res, err := o.engineAt(pol, "apply", near.URL).Apply(t.Context(), engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if err != nil || o.status(key) != awsemu.StatusInactive {
		t.Fatalf("apply with the clock right: %v, key %s", err, o.status(key))
	}
	_, err = o.engineAt(pol, "undo", skewed.URL).Undo(t.Context(), engine.UndoRequest{RunID: res.Outcome.RunID})
	if !errors.Is(err, engine.ErrClockSkew) || o.status(key) != awsemu.StatusInactive {
		t.Fatalf("undo with the clock 48h ahead: %v, key %s; want refused", err, o.status(key))
	}
	// Warnings change no key: they still go out (report mode).
	o.addKey(o.prod, "bob", 85*day, 0, awsemu.StatusActive)
	warned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
	if err != nil {
		t.Fatal(err)
	}
	if warned.Plan.Changes() || warned.Plan.Summary().Notify == 0 {
		t.Fatalf("plan %+v, want warnings only", warned.Plan.Summary())
	}
	if _, err := o.engineAt(pol, "apply", skewed.URL).Apply(t.Context(), engine.ApplyRequest{Plan: roundTrip(t, warned.Plan), Read: orgRead}); err != nil {
		t.Errorf("a plan of warnings only, with the clock off: %v", err)
	}
}

// engineAt is o.engine against another endpoint (a proxy of the sandbox).
func (o *org) engineAt(pol *policy.Policy, command, url string) *engine.Engine {
	o.t.Helper()
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: awsemu.DefaultRegion, Endpoint: url, MaxBackoff: 50 * time.Millisecond,
		Credentials: credentials.NewStaticCredentialsProvider(o.admin.AccessKeyID, o.admin.SecretAccessKey, "")})
	if err != nil {
		o.t.Fatal(err)
	}
	hub, err := awsx.NewHub(o.t.Context(), cfg, awsx.HubOptions{Command: command, RoleName: roleName, ActRoleName: actRoleName})
	if err != nil {
		o.t.Fatal(err)
	}
	return &engine.Engine{Hub: hub, Policy: pol, Store: o.st}
}

// TestEditedPlanCannotDeactivateOnResume: deactivate_old (--deactivate-now)
// is the live plan's to set, never the file's. A rotation cut off after it
// stored the new key is finished on resume whatever the live plan says; a
// plan file edited to deactivate the old key right after must not make it
// so: the old key is in use.
func TestEditedPlanCannotDeactivateOnResume(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	ctx := t.Context()
	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	a := planned.Plan.Actions[0]
	journalCrash(t, o, pol, planned.Plan, a, "run-crashed", time.Now().UTC().Add(-time.Minute))
	stored := o.addKey(acct, "alice", 0, 0, awsemu.StatusActive)
	value, _ := json.Marshal(secretValue{stored.AccessKeyID, stored.SecretAccessKey})
	if _, err := o.sb.AddSecret(awsemu.SecretSpec{Account: acct, Region: awsemu.DefaultRegion, Name: "keywarden/iam-user/alice",
		SecretString: string(value), Tags: []awsemu.Tag{{Key: remediate.TagAccessKeyID, Value: stored.AccessKeyID}}}); err != nil {
		t.Fatal(err)
	}
	edited := roundTrip(t, planned.Plan)
	edited.Actions[0].DeactivateOld = true
	res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: edited, Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := o.status(old); got != awsemu.StatusActive {
		t.Fatalf("the old key, in use, is %s: the edited plan deactivated it (%s)", got, strings.Join(outline(res.Outcome.Results), ", "))
	}
	if r := res.Outcome.Results[0]; r.Outcome != store.OutcomeDone {
		t.Errorf("the interrupted rotation: %s %s; want it finished", r.Outcome, r.Detail)
	}
}

// TestEditedPlanCannotDeactivateOldKey: a plan file's rotate action edited
// to say deactivate_old (as 'keywarden rotate --deactivate-now' does)
// rotates, and leaves the old key, in use, active.
func TestEditedPlanCannotDeactivateOldKey(t *testing.T) {
	o := newOrg(t, 1)
	old := o.addKey(o.prod, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	planned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
	if err != nil {
		t.Fatal(err)
	}
	edited := roundTrip(t, planned.Plan)
	edited.Actions[0].DeactivateOld = true
	edited.Actions[0].Stage = "deactivate-now"
	res, err := o.engine(pol, "apply").Apply(t.Context(), engine.ApplyRequest{Plan: edited, Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := o.status(old); got != awsemu.StatusActive {
		t.Fatalf("the old key, in use, is %s: the edited plan deactivated it (%s)", got, strings.Join(outline(res.Outcome.Results), ", "))
	}
	if got := strings.Join(outline(res.Outcome.Results), ", "); got != "alice rotate done" {
		t.Errorf("results %s, want the rotation alone", got)
	}
}

// losesFirstAnswer passes calls to the sandbox, but the first call of op
// is carried out and its answer lost (the connection drops): the SDK
// sends it again.
type losesFirstAnswer struct {
	h    http.Handler
	op   string
	mu   sync.Mutex
	lost bool
}

func (l *losesFirstAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	l.mu.Lock()
	lose := !l.lost && strings.Contains(string(body), "Action="+l.op+"&")
	l.lost = l.lost || lose
	l.mu.Unlock()
	if !lose {
		l.h.ServeHTTP(w, r)
		return
	}
	l.h.ServeHTTP(httptest.NewRecorder(), r)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestRotationAnswerLost: CreateAccessKey went through but its answer was
// lost, and the SDK sent it again: IAM refuses the second (the user holds
// two keys now). The key the first call made has a secret nobody will
// ever see: it is deleted, not left as the user's second active key.
func TestRotationAnswerLost(t *testing.T) {
	o := newOrg(t, 1)
	old := o.addKey(o.prod, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	planned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(&losesFirstAnswer{h: o.sb, op: "CreateAccessKey"})
	t.Cleanup(proxy.Close)
	res, err := o.engineAt(pol, "apply", proxy.URL).Apply(t.Context(), engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	r := res.Outcome.Results[0]
	keys := keysOf(t, o, o.prod, "alice")
	switch {
	case r.Outcome == store.OutcomeDone:
		// The rotation went through after all: one new key, stored.
		newID, _, _ := remediate.RotationDetail(r.Detail)
		if len(keys) != 2 || o.status(newID) != awsemu.StatusActive {
			t.Errorf("alice holds %v after the rotation, want %s and %s", keys, old, newID)
		}
	case len(keys) != 1 || !strings.HasPrefix(keys[0], old):
		t.Errorf("rotation %s (%s); alice holds %v: a key whose secret is lost was left", r.Outcome, r.Detail, keys)
	case !strings.Contains(r.Detail, "was deleted"):
		t.Errorf("the journal says %q; want it to say the lost key was deleted", r.Detail)
	}
	if o.status(old) != awsemu.StatusActive {
		t.Errorf("the old key is %s", o.status(old))
	}
}

// TestResumeRecordsWhatTheCutOffCallDid: an apply cut off during its
// UpdateAccessKey (the call went through, the result was never
// journaled) is resumed: the key, found inactive, was deactivated by that
// run — recorded done, so that undo of the run reactivates it.
func TestResumeRecordsWhatTheCutOffCallDid(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, stagedYAML)
	key := o.addKey(o.prod, "alice", 105*day, 0, awsemu.StatusActive)
	ctx := t.Context()
	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	a := *actionOn(planned.Plan, key.AccessKeyID)
	lease, err := o.st.Acquire(ctx, "run-cut-off", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(-time.Minute)
	if err := lease.CreateRun(ctx, store.Run{ID: "run-cut-off", Command: "apply", PlanID: planned.Plan.ID, PolicyHash: pol.Hash,
		Status: store.RunRunning, StartedAt: start}); err != nil {
		t.Fatal(err)
	}
	if _, err := lease.RecordIntent(ctx, store.Entry{RunID: "run-cut-off", PlanID: planned.Plan.ID, ActionID: a.ID, Action: a.Type,
		AccountID: a.AccountID, UserName: a.UserName, AccessKeyID: a.AccessKeyID, KeyStatus: a.Key.Status, KeyCreatedAt: a.Key.CreatedAt,
		IntentAt: start}); err != nil {
		t.Fatal(err)
	}
	lease.Release()
	// The cut-off call went through.
	c := iam.New(iam.Options{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(o.url),
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, "")})
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(key.AccessKeyID),
		Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !res.Outcome.Resumed || res.Outcome.RunID != "run-cut-off" {
		t.Errorf("run %s resumed %v; want run-cut-off resumed", res.Outcome.RunID, res.Outcome.Resumed)
	}
	if got := strings.Join(outline(res.Outcome.Results), ", "); got != "alice deactivate done" {
		t.Errorf("results %s, want the deactivation recorded done by the resumed run", got)
	}
	if _, err := o.engine(pol, "undo").Undo(ctx, engine.UndoRequest{RunID: "run-cut-off"}); err != nil {
		t.Fatalf("undo: %v", err)
	}
	if got := o.status(key.AccessKeyID); got != awsemu.StatusActive {
		t.Fatalf("after undo of the run the key is %s, want active", got)
	}
}

// TestCutoverAllowsForIAMsDelay: IAM shows a key's last use up to hours
// late. An application still on the old key, using it every 22 hours, has
// never been quiet for the 1-day window; a use it made an hour ago, not
// shown yet, must not let the cutover take the key away from it.
func TestCutoverAllowsForIAMsDelay(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, rotationYAML)
	o.sb.SetLastUsedDelay(4 * time.Hour)
	clock := o.sb.Clock()
	old, nk, _ := rotateAlice(t, o, pol)
	o.useKey(nk.AccessKeyID, nk.SecretAccessKey) // a test of the new key
	clock.Advance(2 * time.Hour)
	o.useKey(old.AccessKeyID, old.SecretAccessKey) // the application, every 22 hours
	clock.Advance(22 * time.Hour)
	o.useKey(old.AccessKeyID, old.SecretAccessKey)
	clock.Advance(3 * time.Hour) // IAM does not show this use yet
	p, _ := o.planApply(pol)
	if a := actionOn(p, old.AccessKeyID); a != nil && a.Type == remediate.Deactivate {
		t.Errorf("the plan deactivates the old key, used 3 hours ago (not shown yet) and 22 hours before that: %s", a.Reason)
	}
	if got := o.status(old.AccessKeyID); got != awsemu.StatusActive {
		t.Fatalf("the old key, in use every 22 hours, is %s", got)
	}
	// Once it has really been quiet for the window, and IAM shows it, the
	// cutover goes ahead: the test can fail.
	clock.Advance(30 * time.Hour)
	o.planApply(pol)
	if got := o.status(old.AccessKeyID); got != awsemu.StatusInactive {
		t.Fatalf("the old key, quiet for 33 hours, is %s; want the cutover", got)
	}
}

// TestRotateOnDemandOverdueKey: 'keywarden rotate' of a key past its
// max_age deactivate stage, quiet for weeks, rotates it as asked (the docs:
// whatever its age) instead of refusing because the rules alone would
// deactivate it; the old key stays active until its cutover.
func TestRotateOnDemandOverdueKey(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, rotationYAML)
	old := o.addKey(o.prod, "frank", 125*day, 20*day, awsemu.StatusActive)
	res, err := o.clocked(pol, "rotate").Rotate(t.Context(), engine.RotateRequest{AccountID: o.prod, UserName: "frank", Read: orgRead})
	if err != nil {
		t.Fatalf("rotate of a key past its deactivate stage: %v", err)
	}
	if res.Outcome == nil || res.Outcome.Counts()[store.OutcomeDone] != 1 {
		t.Fatalf("outcome %+v, want the rotation done", res.Outcome)
	}
	if _, ok := o.sb.Secret(o.prod, awsemu.DefaultRegion, "keywarden/iam-user/frank"); !ok {
		t.Error("no secret keywarden/iam-user/frank")
	}
	if got := o.status(old.AccessKeyID); got != awsemu.StatusActive {
		t.Errorf("the old key is %s, want it active until the cutover", got)
	}
}
