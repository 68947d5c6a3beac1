package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// The engine against the sandbox, as values: no command line, no output.

const (
	day         = 24 * time.Hour
	roleName    = "KeywardenSpoke"
	actRoleName = "KeywardenSpokeAct"
)

// org is a management account holding the hub admin and member accounts
// with the spoke role, in an OU "Prod" (the first) or at the root.
type org struct {
	t       *testing.T
	sb      *awsemu.Sandbox
	url     string
	mgmt    string
	prodOU  string
	prod    string // the member account in the Prod OU
	members []string
	admin   awsemu.Key
	users   map[string]bool
	secrets []string
	st      store.Store
}

func newOrg(t *testing.T, members int) *org {
	t.Helper()
	sb := awsemu.New(awsemu.Options{Seed: 11})
	o := &org{t: t, sb: sb, users: map[string]bool{}}
	now := sb.Clock().Now()
	var err error
	if o.mgmt, err = sb.AddAccount(awsemu.AccountSpec{Name: "management", CreatedAt: now.Add(-1000 * day)}); err != nil {
		t.Fatal(err)
	}
	root, err := sb.CreateOrganization(o.mgmt)
	if err != nil {
		t.Fatal(err)
	}
	if o.prodOU, err = sb.AddOU(root, "Prod"); err != nil {
		t.Fatal(err)
	}
	for i := range members {
		id, err := sb.AddAccount(awsemu.AccountSpec{Name: fmt.Sprintf("member-%d", i+1), CreatedAt: now.Add(-500 * day)})
		if err != nil {
			t.Fatal(err)
		}
		parent := root
		if i == 0 {
			parent, o.prod = o.prodOU, id
		}
		if err := sb.JoinOrganization(id, parent, time.Time{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{roleName, actRoleName} {
			if err := sb.AddRole(awsemu.RoleSpec{Account: id, Name: name, TrustedAccounts: []string{o.mgmt}}); err != nil {
				t.Fatal(err)
			}
		}
		o.members = append(o.members, id)
	}
	sort.Strings(o.members)
	o.admin = o.addKey(o.mgmt, "keywarden-admin", 200*day, 0, awsemu.StatusActive)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	o.url = srv.URL
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.st = st
	return o
}

func (o *org) addKey(account, user string, age, usedAgo time.Duration, status string, tags ...awsemu.Tag) awsemu.Key {
	o.t.Helper()
	now := o.sb.Clock().Now()
	if !o.users[account+"/"+user] {
		if err := o.sb.AddUser(awsemu.UserSpec{Account: account, Name: user, CreatedAt: now.Add(-age - day), Tags: tags}); err != nil {
			o.t.Fatal(err)
		}
		o.users[account+"/"+user] = true
	}
	spec := awsemu.KeySpec{Account: account, User: user, Status: status, CreatedAt: now.Add(-age)}
	if usedAgo > 0 {
		spec.LastUsed, spec.LastUsedService, spec.LastUsedRegion = now.Add(-usedAgo), "s3", "eu-west-1"
	}
	k, err := o.sb.AddAccessKey(spec)
	if err != nil {
		o.t.Fatal(err)
	}
	o.secrets = append(o.secrets, k.SecretAccessKey)
	return k
}

func (o *org) status(keyID string) string {
	ks, ok := o.sb.AccessKey(keyID)
	if !ok {
		return "deleted"
	}
	return ks.Status
}

// engine is a fresh run: one hub session, as a CLI command or a Lambda
// invocation makes.
func (o *org) engine(pol *policy.Policy, command string) *engine.Engine {
	o.t.Helper()
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: awsemu.DefaultRegion, Endpoint: o.url, MaxBackoff: 50 * time.Millisecond,
		Credentials: credentials.NewStaticCredentialsProvider(o.admin.AccessKeyID, o.admin.SecretAccessKey, "")})
	if err != nil {
		o.t.Fatal(err)
	}
	hub, err := awsx.NewHub(o.t.Context(), cfg, awsx.HubOptions{Command: command, RoleName: roleName, ActRoleName: actRoleName})
	if err != nil {
		o.t.Fatal(err)
	}
	return &engine.Engine{Hub: hub, Policy: pol, Store: o.st,
		Notify: engine.NotifyOptions{Delivery: notify.DeliverOptions{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}}}
}

func mustPolicy(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("keywarden.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stagedYAML judges keys by age only, through every stage.
const stagedYAML = `version: 1
rules:
  max_age: {severity: medium, warn: 80d, deactivate: 100d, delete: 110d}
  unused: {enabled: false}
  unused_initial: {enabled: false}
  multiple_active: {enabled: false}
safety:
  protected_users: ["break-glass-*"]
`

var orgRead = engine.Read{Selection: inventory.Selection{Organization: true}, Parallel: 4, AccountTimeout: time.Minute}

// roundTrip is a plan as apply reads it back from its file.
func roundTrip(t *testing.T, p *remediate.Plan) *remediate.Plan {
	t.Helper()
	var buf bytes.Buffer
	if err := remediate.WritePlan(&buf, p); err != nil {
		t.Fatal(err)
	}
	back, err := remediate.ReadPlan(&buf, "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func outline(rs []remediate.ActionResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Action.UserName+" "+r.Action.Type+" "+r.Outcome)
	}
	return out
}

// hook is a webhook receiver that checks each delivery's signature.
type hook struct {
	*httptest.Server
	mu      sync.Mutex
	digests []notify.WebhookDigest
}

func newHook(t *testing.T, secret string) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(secret), r.Header.Get(notify.TimestampHeader), body, r.Header.Get(notify.SignatureHeader), time.Now(), 5*time.Minute); err != nil {
			t.Errorf("webhook delivery: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var d notify.WebhookDigest
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("webhook payload: %v", err)
		}
		h.mu.Lock()
		h.digests = append(h.digests, d)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) items() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, d := range h.digests {
		for _, it := range d.Items {
			out = append(out, d.Recipient.Contact+" "+it.Action+" "+it.AccessKeyID)
		}
	}
	sort.Strings(out)
	return out
}

// TestPlanApplyNotifyUndo is the whole cycle as values: a plan, saved and
// read back, applied (judged again live), the owners told through a signed
// webhook, and the run undone.
func TestPlanApplyNotifyUndo(t *testing.T) {
	o := newOrg(t, 2)
	a, b := o.members[0], o.members[1]
	owner := awsemu.Tag{Key: "owner", Value: "alice@example.com"}
	alice := o.addKey(a, "alice", 105*day, 20*day, awsemu.StatusActive, owner).AccessKeyID
	bob := o.addKey(b, "bob", 85*day, 2*day, awsemu.StatusActive).AccessKeyID
	glass := o.addKey(b, "break-glass-admin", 300*day, 30*day, awsemu.StatusActive).AccessKeyID
	const secret = "whsec-engine-test"
	t.Setenv("KW_ENGINE_HOOK_SECRET", secret)
	h := newHook(t, secret)
	pol := mustPolicy(t, stagedYAML+`notifications:
  owner_tags: [owner]
  owner_channel: hook
  default: {contact: cloud-team@example.com, channel: hook}
  channels:
    hook: {type: webhook, url: "`+h.URL+`", secret_env: KW_ENGINE_HOOK_SECRET}
`)
	ctx := t.Context()

	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range planned.Plan.Actions {
		actions = append(actions, a.UserName+" "+a.Type)
	}
	if got := strings.Join(actions, ","); got != "alice deactivate,bob notify" {
		t.Fatalf("plan %s, want alice's key deactivated and bob warned", got)
	}
	guards := map[string]string{}
	for _, w := range planned.Plan.Withheld {
		guards[w.AccessKeyID] = w.Guard
	}
	if guards[glass] != remediate.GuardProtectedUser || guards[o.admin.AccessKeyID] != remediate.GuardSelfKey {
		t.Errorf("withheld %+v, want the break-glass key protected and the hub's own key left alone", planned.Plan.Withheld)
	}

	var confirmed *remediate.Prepared
	var progress []remediate.ActionResult
	eng := o.engine(pol, "apply")
	res, err := eng.Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead,
		Confirm:  func(p *remediate.Prepared) error { confirmed = p; return nil },
		Progress: func(r remediate.ActionResult) { progress = append(progress, r) }})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if confirmed == nil || len(confirmed.ToDo) != 2 || len(confirmed.Dropped) != 0 {
		t.Fatalf("confirmation asked with %+v, want both actions kept", confirmed)
	}
	if got := strings.Join(outline(res.Outcome.Results), ","); got != "alice deactivate done,bob notify done" {
		t.Errorf("results %s", got)
	}
	if len(progress) != 2 || res.Outcome.RunID != eng.Hub.RunID || res.Outcome.Status != store.RunDone {
		t.Errorf("progress %d results, run %s %s; want 2, the hub's run ID, done", len(progress), res.Outcome.RunID, res.Outcome.Status)
	}
	if o.status(alice) != awsemu.StatusInactive || o.status(bob) != awsemu.StatusActive || o.status(glass) != awsemu.StatusActive {
		t.Errorf("keys alice %s, bob %s, break-glass %s", o.status(alice), o.status(bob), o.status(glass))
	}
	if n := res.Notifications; n == nil || n.Sent != 2 || n.Failed != 0 {
		t.Fatalf("notifications %+v, want a digest to each owner", n)
	}
	// alice is found by her tag, read live (a plan file has no tags).
	want := []string{"alice@example.com deactivated " + alice, "cloud-team@example.com warning " + bob}
	if got := h.items(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("webhook items %v, want %v", got, want)
	}

	undo, err := o.engine(pol, "undo").Undo(ctx, engine.UndoRequest{RunID: res.Outcome.RunID})
	if err != nil {
		t.Fatalf("Undo: %v", err)
	}
	if got := strings.Join(outline(undo.Results), ","); got != "alice reactivate done" || o.status(alice) != awsemu.StatusActive {
		t.Errorf("undo %s, alice's key %s; want it reactivated", got, o.status(alice))
	}
}

// TestApplyRefusesTamperedPlans: a plan file edited to widen what it does
// is narrowed back, or refused, and no key it should not touch changes.
func TestApplyRefusesTamperedPlans(t *testing.T) {
	o := newOrg(t, 1)
	a := o.members[0]
	pol := mustPolicy(t, stagedYAML+"  max_actions: 2\n")
	var due []string
	for i := range 3 {
		due = append(due, o.addKey(a, fmt.Sprintf("old-%d", i), 105*day, 20*day, awsemu.StatusActive).AccessKeyID)
	}
	for i := range 8 {
		o.addKey(a, fmt.Sprintf("fresh-%d", i), 10*day, day, awsemu.StatusActive)
	}
	healthy := o.addKey(a, "healthy", 40*day, 25*time.Minute, awsemu.StatusActive).AccessKeyID
	ctx := t.Context()
	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	if !planned.Plan.Limits.Exceeded || len(planned.Plan.Actions) != 3 {
		t.Fatalf("plan: %d actions, limits %+v; want 3 deactivations, over max_actions 2", len(planned.Plan.Actions), planned.Plan.Limits)
	}

	t.Run("limits flipped", func(t *testing.T) {
		p := roundTrip(t, planned.Plan)
		p.Limits.Exceeded, p.Limits.Reasons = false, nil
		_, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: p, Read: orgRead})
		if !errors.Is(err, remediate.ErrOverLimits) {
			t.Fatalf("Apply: %v, want ErrOverLimits", err)
		}
		for _, k := range due {
			if o.status(k) != awsemu.StatusActive {
				t.Fatalf("key %s changed by a refused apply", k)
			}
		}
	})

	t.Run("hand-added action", func(t *testing.T) {
		p := roundTrip(t, planned.Plan)
		p.Actions = p.Actions[:1] // within the limits
		forged := p.Actions[0]
		forged.UserName, forged.AccessKeyID = "healthy", healthy
		forged.ID = remediate.ActionID(p.PolicyHash, forged)
		p.Actions = append(p.Actions, forged)
		res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: p, Read: orgRead})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := strings.Join(outline(res.Outcome.Results), ","); got != "old-0 deactivate done,healthy deactivate skipped" {
			t.Errorf("results %s", got)
		}
		if o.status(healthy) != awsemu.StatusActive {
			t.Errorf("the healthy key used 25 minutes ago was deactivated")
		}
		if d := res.Outcome.Results[1].Detail; !strings.Contains(d, "no rule of the current policy asks") {
			t.Errorf("skipped because %q", d)
		}
	})
}

// TestResumedApplyIsOneRun: an apply cut off mid-way (Ctrl-C during a
// call) is resumed under the same run, and one undo restores every key it
// deactivated, the one whose call was cut off included.
func TestResumedApplyIsOneRun(t *testing.T) {
	o := newOrg(t, 1)
	a := o.members[0]
	pol := mustPolicy(t, stagedYAML+"  max_account_fraction: 1\n")
	var keys []string
	for i := range 3 {
		keys = append(keys, o.addKey(a, fmt.Sprintf("user-%d", i), 105*day, 20*day, awsemu.StatusActive).AccessKeyID)
	}
	ctx := t.Context()
	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	saved := roundTrip(t, planned.Plan)

	// The second UpdateAccessKey is held; the apply is cancelled while it
	// waits, and the held call then goes through: AWS did it, the journal
	// could not say so.
	hold := make(chan struct{})
	actx, cancel := context.WithCancel(ctx)
	calls := 0
	var first *engine.ApplyResult
	_, err = o.engine(pol, "apply").Apply(actx, engine.ApplyRequest{Plan: saved, Read: orgRead,
		Progress: func(r remediate.ActionResult) {
			calls++
			if calls == 1 {
				o.sb.SetFaults(awsemu.Fault{Operation: "UpdateAccessKey", Hold: hold})
				go func() {
					time.Sleep(200 * time.Millisecond)
					cancel()
				}()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first apply: %v, want cancelled", err)
	}
	_ = first
	close(hold)
	o.sb.SetFaults()
	deadline := time.Now().Add(5 * time.Second)
	for o.status(keys[1]) != awsemu.StatusInactive && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	eng := o.engine(pol, "apply")
	res, err := eng.Apply(ctx, engine.ApplyRequest{Plan: saved, Read: orgRead})
	if err != nil {
		t.Fatalf("resumed apply: %v", err)
	}
	if !res.Outcome.Resumed || res.Outcome.RunID == eng.Hub.RunID {
		t.Errorf("run %s resumed %v; want the interrupted run carried on under its own ID", res.Outcome.RunID, res.Outcome.Resumed)
	}
	runs, err := o.st.RunsForPlan(ctx, saved.ID)
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunDone {
		t.Fatalf("runs of the plan %+v (%v), want one, done", runs, err)
	}
	for _, k := range keys {
		if o.status(k) != awsemu.StatusInactive {
			t.Fatalf("key %s is %s after the resumed apply", k, o.status(k))
		}
	}
	undo, err := o.engine(pol, "undo").Undo(ctx, engine.UndoRequest{RunID: runs[0].ID})
	if err != nil {
		t.Fatalf("Undo: %v", err)
	}
	if n := undo.Counts()[store.OutcomeDone]; n != 3 {
		t.Errorf("undo reactivated %d keys (%v), want all 3", n, outline(undo.Results))
	}
	for _, k := range keys {
		if o.status(k) != awsemu.StatusActive {
			t.Errorf("key %s is %s after undo", k, o.status(k))
		}
	}
}

// TestOUScopedPolicyNeedsTheOU: with an exemption for an OU, an account
// whose OU cannot be read is not judged as if it were outside every OU:
// it is reported failed with the reason, and gets no action. When
// Organizations answers, the caller's own account is placed too.
func TestOUScopedPolicyNeedsTheOU(t *testing.T) {
	o := newOrg(t, 2)
	prod := o.prod
	k := o.addKey(prod, "svc", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, stagedYAML+`exemptions:
  - ous: [`+o.prodOU+`]
    reason: prod keys rotate with the release train
`)
	ctx := t.Context()
	read := engine.Read{Selection: inventory.Selection{Accounts: []string{prod}}, Parallel: 2, AccountTimeout: time.Minute}

	res, err := o.engine(pol, "plan").Plan(ctx, read)
	if err != nil {
		t.Fatal(err)
	}
	acct := res.Scan.Inventory.Accounts[0]
	if ids := acct.Account.OUIDs; len(ids) == 0 || ids[len(ids)-1] != o.prodOU {
		t.Fatalf("account %s placed in %v, want under %s", prod, ids, o.prodOU)
	}
	if len(res.Plan.Actions) != 0 || len(res.Scan.Findings) != 1 || !res.Scan.Findings[0].Exempt {
		t.Errorf("the key in the Prod OU: actions %+v, findings %+v; want one exempt finding and no action", res.Plan.Actions, res.Scan.Findings)
	}

	// With no selection at all (the caller's own account), the tree is read
	// too: the management account sits at the root.
	own, err := o.engine(pol, "plan").Scan(ctx, engine.Read{Parallel: 1, AccountTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if a := own.Inventory.Accounts[0]; a.Status != inventory.AccountOK || len(a.Account.OUIDs) == 0 {
		t.Errorf("the caller's own account: %s, OU path %v; want read and placed", a.Status, a.Account.OUIDs)
	}

	o.sb.SetFaults(awsemu.Fault{Operation: "ListRoots", Deny: true})
	res, err = o.engine(pol, "plan").Plan(ctx, read)
	if err != nil {
		t.Fatal(err)
	}
	acct = res.Scan.Inventory.Accounts[0]
	if acct.Status != inventory.AccountFailed || acct.ErrorCode != "OUUnknown" || !strings.Contains(acct.Error, "OU-scoped") {
		t.Errorf("account with its OU unknown: %s %s %q, want failed with the reason", acct.Status, acct.ErrorCode, acct.Error)
	}
	if len(res.Plan.Actions) != 0 || o.status(k) != awsemu.StatusActive {
		t.Errorf("actions %+v for an account whose OU is unknown", res.Plan.Actions)
	}
}

// TestOrganizationsFailureSaysWhatHappened: a throttled or failing AWS
// Organizations is not reported as "you need the management account".
func TestOrganizationsFailureSaysWhatHappened(t *testing.T) {
	o := newOrg(t, 1)
	pol := mustPolicy(t, stagedYAML)
	tests := []struct {
		name  string
		fault awsemu.Fault
		says  string
		not   string
	}{
		{"server errors", awsemu.Fault{Operation: "ListRoots", ErrorRate: 1}, "try again later", "management account"},
		{"denied", awsemu.Fault{Operation: "ListRoots", Deny: true}, "management account or a delegated administrator", "try again later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o.sb.SetFaults(tt.fault)
			defer o.sb.SetFaults()
			_, err := o.engine(pol, "scan").Scan(t.Context(), orgRead)
			if err == nil || !strings.Contains(err.Error(), tt.says) || strings.Contains(err.Error(), tt.not) {
				t.Errorf("error %v, want it to say %q and not %q", err, tt.says, tt.not)
			}
		})
	}
}

// TestCtrlCDuringDeliveryKeepsNotices: Ctrl-C while a receiver hangs ends
// the apply promptly, and what was not delivered is kept in the outbox,
// from where a later retry delivers it with the same idempotency key.
func TestCtrlCDuringDeliveryKeepsNotices(t *testing.T) {
	o := newOrg(t, 1)
	a := o.members[0]
	bob := o.addKey(a, "bob", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	release := make(chan struct{})
	var mu sync.Mutex
	var keys []string
	hang := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get(notify.IdempotencyHeader))
		h := hang
		mu.Unlock()
		if h {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	t.Setenv("KW_ENGINE_HOOK_SECRET", "whsec-ctrl-c")
	pol := mustPolicy(t, stagedYAML+`notifications:
  default: {contact: cloud-team@example.com, channel: hook}
  channels:
    hook: {type: webhook, url: "`+srv.URL+`", secret_env: KW_ENGINE_HOOK_SECRET}
`)
	planned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for {
			mu.Lock()
			n := len(keys)
			mu.Unlock()
			if n > 0 {
				cancel() // Ctrl-C while the receiver hangs
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	done := make(chan *engine.ApplyResult, 1)
	var applyErr error
	go func() {
		res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: planned.Plan, Scan: planned.Scan})
		applyErr = err
		done <- res
	}()
	var res *engine.ApplyResult
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the apply did not end within 10 s of Ctrl-C during delivery")
	}
	if !errors.Is(applyErr, context.Canceled) {
		t.Errorf("apply interrupted during delivery: %v, want it to end as interrupted", applyErr)
	}
	if o.status(bob) != awsemu.StatusInactive || res == nil || res.Notifications == nil || res.Notifications.Queued != 1 {
		t.Fatalf("bob's key %s, notifications %+v; want the key deactivated and the announcement kept", o.status(bob), res)
	}
	pending, err := o.st.PendingNotices(t.Context(), time.Now())
	if err != nil || len(pending) != 1 {
		t.Fatalf("outbox %+v (%v), want the one digest", pending, err)
	}

	mu.Lock()
	hang = false
	mu.Unlock()
	eng := o.engine(pol, "notify")
	eng.Now = func() time.Time { return time.Now().Add(time.Hour) } // the wait has passed
	rep, err := eng.RetryNotices(t.Context())
	if err != nil || rep.Retried != 1 {
		t.Fatalf("retry: %+v (%v), want the kept digest delivered", rep, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) < 2 || keys[0] == "" || keys[len(keys)-1] != keys[0] {
		t.Errorf("idempotency keys %v: want the retry to carry the first attempt's", keys)
	}
}
