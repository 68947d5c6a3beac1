package engine_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// rotationYAML rotates at 90 days and deactivates at 120.
const rotationYAML = `version: 1
rules:
  max_age: {severity: medium, warn: 80d, rotate: 90d, deactivate: 120d, delete: 130d}
  unused: {enabled: false}
  unused_initial: {enabled: false}
  multiple_active: {enabled: false}
safety:
  protected_users: ["break-glass-*"]
rotation:
  enabled: true
  readers: ["arn:aws:iam::111111111111:role/app-deployer"]
  kms_key_id: alias/keywarden
  replica_regions: [eu-central-1]
`

// rawHook keeps every webhook body as received.
type rawHook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newRawHook(t *testing.T) *rawHook {
	h := &rawHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *rawHook) items(t *testing.T) []notify.WebhookItem {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notify.WebhookItem
	for _, b := range h.bodies {
		var d notify.WebhookDigest
		if err := json.Unmarshal([]byte(b), &d); err != nil {
			t.Fatalf("webhook payload: %v", err)
		}
		if !d.Recipient.Team {
			out = append(out, d.Items...)
		}
	}
	return out
}

func rotationPolicy(t *testing.T, hookURL string) *policy.Policy {
	t.Setenv("KW_ROTATION_HOOK_SECRET", "whsec-rotation")
	return mustPolicy(t, rotationYAML+`notifications:
  owner_tags: [owner]
  owner_channel: hook
  security_team: {contact: secops@example.com, channel: hook}
  channels:
    hook: {type: webhook, url: "`+hookURL+`", secret_env: KW_ROTATION_HOOK_SECRET}
`)
}

// secretValue is the key a secret holds.
type secretValue struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// TestRotation: the rotate stage creates a new key, stores it in Secrets
// Manager in the key's account (the key works and is the user's), leaves
// the old key active, tells the owner where the secret is, and never
// writes the secret anywhere; a second plan creates no second key; undo
// leaves the rotation in place.
func TestRotation(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	owner := awsemu.Tag{Key: "owner", Value: "alice@example.com"}
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive, owner).AccessKeyID // in use: rotation is for that
	h := newRawHook(t)
	pol := rotationPolicy(t, h.URL)
	var logs bytes.Buffer
	ctx := t.Context()

	eng := o.engine(pol, "plan")
	eng.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	planned, err := eng.Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range planned.Plan.Actions {
		got = append(got, a.UserName+" "+a.Type+" "+a.AccessKeyID)
	}
	if want := "alice rotate " + old; strings.Join(got, ",") != want {
		t.Fatalf("plan %v, want %s", got, want)
	}
	if !planned.Plan.Changes() || planned.Plan.Summary().Rotate != 1 {
		t.Errorf("a plan with a rotation changes keys: summary %+v", planned.Plan.Summary())
	}
	var planFile bytes.Buffer
	if err := remediate.WritePlan(&planFile, planned.Plan); err != nil {
		t.Fatal(err)
	}

	eng = o.engine(pol, "apply")
	eng.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res, err := eng.Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res.Outcome.Results) != 1 || res.Outcome.Results[0].Outcome != store.OutcomeDone {
		t.Fatalf("results %+v, want the rotation done", res.Outcome.Results)
	}
	detail := res.Outcome.Results[0].Detail
	newID, arn, ok := remediate.RotationDetail(detail)
	if !ok {
		t.Fatalf("detail %q names no new key and secret", detail)
	}

	// The secret: where the policy says, holding a working key of alice.
	sec, ok := o.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice")
	if !ok || sec.ARN != arn {
		t.Fatalf("secret keywarden/iam-user/alice in %s: %v (ARN %s), want %s", acct, ok, sec.ARN, arn)
	}
	cur, ok := sec.Current()
	if !ok {
		t.Fatal("the secret has no current version")
	}
	var v secretValue
	if err := json.Unmarshal([]byte(cur.SecretString), &v); err != nil || v.AccessKeyID != newID || v.SecretAccessKey == "" {
		t.Fatalf("the secret's value is not {AccessKeyId: %s, SecretAccessKey}: %v", newID, err)
	}
	o.secrets = append(o.secrets, v.SecretAccessKey)
	nk, ok := o.sb.AccessKey(newID)
	if !ok || nk.Account != acct || nk.User != "alice" || nk.Status != awsemu.StatusActive {
		t.Errorf("new key %s: %+v, want an active key of alice in %s", newID, nk, acct)
	}
	if o.status(old) != awsemu.StatusActive {
		t.Errorf("the old key is %s, want it still active", o.status(old))
	}
	// The key works: the sandbox verifies the signature and answers with
	// the user it belongs to.
	stsc := sts.New(sts.Options{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(o.url),
		Credentials: credentials.NewStaticCredentialsProvider(v.AccessKeyID, v.SecretAccessKey, "")})
	who, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the new key: %v", err)
	}
	if want := "arn:aws:iam::" + acct + ":user/alice"; aws.ToString(who.Arn) != want {
		t.Errorf("the new key signs as %s, want %s", aws.ToString(who.Arn), want)
	}
	if sec.KmsKeyID != "alias/keywarden" || len(sec.Replicas) != 1 || sec.Replicas[0].Region != "eu-central-1" {
		t.Errorf("secret KMS key %q, replicas %+v; want alias/keywarden and eu-central-1", sec.KmsKeyID, sec.Replicas)
	}
	for _, want := range []string{`"arn:aws:iam::` + acct + `:user/alice"`, `"arn:aws:iam::111111111111:role/app-deployer"`, `secretsmanager:GetSecretValue`} {
		if !strings.Contains(sec.Policy, want) {
			t.Errorf("resource policy %s lacks %s", sec.Policy, want)
		}
	}
	tags := map[string]string{}
	for _, tg := range sec.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags[remediate.TagUser] != "alice" || tags[remediate.TagReplaces] != old || tags[remediate.TagAccessKeyID] != newID {
		t.Errorf("secret tags %v", tags)
	}

	// The owner is told where the secret is, and until when.
	items := h.items(t)
	if len(items) != 1 {
		t.Fatalf("owner items %+v, want one", items)
	}
	it := items[0]
	if it.Action != notify.ActionRotated || it.AccessKeyID != old || it.NewAccessKeyID != newID || it.SecretARN != arn ||
		it.SecretRegion != awsemu.DefaultRegion || it.NextStage != "deactivate" || it.NextAt == nil {
		t.Errorf("owner item %+v", it)
	}
	cmd := "aws secretsmanager get-secret-value --secret-id " + arn + " --region " + awsemu.DefaultRegion
	if !strings.Contains(it.Remedy, cmd) || !strings.Contains(it.Outlook, acct) {
		t.Errorf("remedy %q / outlook %q: want the command %q and the account", it.Remedy, it.Outlook, cmd)
	}

	// A second plan: the old key was rotated, so nothing is rotated again;
	// the plan shows where the rotation is, and the new key is too young
	// for any rule.
	p2, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p2.Plan.Actions {
		if a.Type == remediate.Rotate || a.AccessKeyID == newID || a.AccessKeyID == old {
			t.Errorf("second plan has %s %s", a.Type, a.AccessKeyID)
		}
	}
	if rs := p2.Plan.Rotations; len(rs) != 1 || rs[0].OldKeyID != old || rs[0].NewKeyID != newID || rs[0].SecretARN != arn ||
		rs[0].Phase != remediate.PhaseWaitingForQuiet || rs[0].NewKeyUsedAt == nil || rs[0].CutoverAt == nil || rs[0].Deadline == nil || rs[0].StoredAt.IsZero() {
		// The new key signed a call above: in use; the old key is not
		// deactivated before it has been quiet for the window.
		t.Errorf("second plan's rotations %+v, want %s replaced by %s, in use, waiting for the old key to be quiet", rs, old, newID)
	}
	if len(p2.Plan.Actions) > 0 {
		if _, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, p2.Plan), Read: orgRead}); err != nil {
			t.Fatalf("second apply: %v", err)
		}
	}
	if n := len(o.sb.Secrets(acct)); n != 1 {
		t.Errorf("%d secrets, want 1", n)
	}
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 {
		t.Errorf("alice holds %v, want the old key and one new key", keys)
	}

	// The original plan is refused a second time; the same plan applied
	// again would not rotate twice either.
	if _, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead}); err == nil {
		t.Errorf("the plan was applied twice")
	}

	// Undo leaves the rotation in place, and says so.
	up, err := o.engine(pol, "undo").PreviewUndo(ctx, res.Outcome.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Rotated) != 1 || !strings.Contains(remediate.RotatedLine(up.Rotated[0]), newID) {
		t.Errorf("undo plan %+v, want the rotation listed as left in place", up)
	}
	if _, err := o.engine(pol, "undo").Undo(ctx, engine.UndoRequest{RunID: res.Outcome.RunID}); err != nil {
		t.Errorf("undo of a run with a rotation: %v", err)
	}
	if o.status(newID) != awsemu.StatusActive || o.status(old) != awsemu.StatusActive {
		t.Errorf("after undo: new key %s, old key %s; want both active", o.status(newID), o.status(old))
	}

	// The secret is nowhere it must not be.
	var journal []string
	entries, err := o.st.Entries(ctx, res.Outcome.RunID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := json.Marshal(e)
		journal = append(journal, string(b))
	}
	everything := map[string]string{"plan": planFile.String(), "logs": logs.String(), "journal": strings.Join(journal, "\n"),
		"detail": detail, "webhook": strings.Join(h.bodies, "\n")}
	for where, text := range everything {
		if strings.Contains(text, v.SecretAccessKey) {
			t.Errorf("the new key's secret is in the %s", where)
		}
	}
}

func keysOf(t *testing.T, o *org, account, user string) []string {
	t.Helper()
	pol := mustPolicy(t, "version: 1\n")
	c := iam.NewFromConfig(o.engine(pol, "test").Hub.Config(account, nil))
	out, err := c.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range out.AccessKeyMetadata {
		keys = append(keys, aws.ToString(k.AccessKeyId)+" "+string(k.Status))
	}
	return keys
}

// TestRotationStoreFailure: when the secret cannot be stored, the new key
// is deleted at once and the action fails, saying why.
func TestRotationStoreFailure(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	ctx := t.Context()
	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	for _, fault := range []awsemu.Fault{{Operation: "CreateSecret", Deny: true}} {
		o.sb.SetFaults(fault)
		res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		o.sb.SetFaults()
		r := res.Outcome.Results[0]
		if r.Outcome != store.OutcomeFailed || !strings.Contains(r.Detail, "deleted at once") || !strings.Contains(r.Detail, "AccessDenied") {
			t.Errorf("result %s: %s; want failed, the new key deleted, and why", r.Outcome, r.Detail)
		}
		if keys := keysOf(t, o, acct, "alice"); len(keys) != 1 || !strings.HasPrefix(keys[0], old) {
			t.Errorf("alice holds %v, want only the old key (no orphan)", keys)
		}
		if n := len(o.sb.Secrets(acct)); n != 0 {
			t.Errorf("%d secrets, want none", n)
		}
	}
}

// TestRotationPutResourcePolicyFailure: a secret stored but not readable
// by the user is a failure too: the new key is deleted.
func TestRotationPutResourcePolicyFailure(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	ctx := t.Context()
	planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
	if err != nil {
		t.Fatal(err)
	}
	o.sb.SetFaults(awsemu.Fault{Operation: "PutResourcePolicy", Deny: true})
	res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	o.sb.SetFaults()
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if r := res.Outcome.Results[0]; r.Outcome != store.OutcomeFailed || !strings.Contains(r.Detail, "deleted at once") {
		t.Errorf("result %s: %s; want failed, the new key deleted", r.Outcome, r.Detail)
	}
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 1 || !strings.HasPrefix(keys[0], old) {
		t.Errorf("alice holds %v, want only the old key (no orphan)", keys)
	}
}

// TestRotationKeyQuota: a user holding two keys is not rotated; the owner
// is warned, with why.
func TestRotationKeyQuota(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	other := o.addKey(acct, "alice", 10*day, time.Hour, awsemu.StatusInactive).AccessKeyID
	pol := mustPolicy(t, rotationYAML)
	planned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, a := range planned.Plan.Actions {
		acts = append(acts, a.Type+" "+a.AccessKeyID)
		if a.AccessKeyID == old && !strings.Contains(a.Reason, "not rotated") {
			t.Errorf("the warning says %q, want why it is not rotated", a.Reason)
		}
	}
	if strings.Join(acts, ",") != "notify "+old {
		t.Errorf("actions %v, want only a warning for the old key", acts)
	}
	quota := false
	for _, w := range planned.Plan.Withheld {
		quota = quota || (w.AccessKeyID == old && w.Type == remediate.Rotate && w.Guard == remediate.GuardKeyQuota)
	}
	if !quota {
		t.Errorf("withheld %+v, want the rotation withheld by %s", planned.Plan.Withheld, remediate.GuardKeyQuota)
	}
	// A plan file edited to rotate anyway is narrowed back at apply.
	edited := roundTrip(t, planned.Plan)
	for i, a := range edited.Actions {
		if a.AccessKeyID == old {
			a.Type = remediate.Rotate
			a.ID = remediate.ActionID(edited.PolicyHash, a)
			edited.Actions[i] = a
		}
	}
	res, err := o.engine(pol, "apply").Apply(t.Context(), engine.ApplyRequest{Plan: edited, Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res.Prepared.Dropped) != 1 || !strings.Contains(res.Prepared.Dropped[0].Detail, "withheld now by the key-quota guard") {
		t.Errorf("dropped %+v, want the edited rotation narrowed back", res.Prepared.Dropped)
	}
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 || o.status(other) != awsemu.StatusInactive || o.status(old) != awsemu.StatusActive {
		t.Errorf("alice holds %v; want her two keys unchanged", keys)
	}
}

// TestRotationResumeDeletesOrphan: a run cut off between creating the new
// key and storing it leaves a key whose secret is lost; resuming the run
// deletes it, and rotates again.
func TestRotationResumeDeletesOrphan(t *testing.T) {
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
	// The interrupted run: its intent journaled, then a key created, then
	// the process died.
	journalCrash(t, o, pol, planned.Plan, a, "run-crashed", time.Now().UTC().Add(-time.Minute))
	orphan := o.addKey(acct, "alice", 0, 0, awsemu.StatusActive)
	o.secrets = append(o.secrets, orphan.SecretAccessKey)

	res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !res.Outcome.Resumed || res.Outcome.RunID != "run-crashed" {
		t.Errorf("run %s resumed %v; want run-crashed resumed", res.Outcome.RunID, res.Outcome.Resumed)
	}
	r := res.Outcome.Results[0]
	if r.Outcome != store.OutcomeDone || !strings.Contains(r.Detail, "deleted key "+orphan.AccessKeyID) {
		t.Fatalf("result %s: %s; want the orphan deleted and the rotation done", r.Outcome, r.Detail)
	}
	if o.status(orphan.AccessKeyID) != "deleted" || o.status(old) != awsemu.StatusActive {
		t.Errorf("orphan %s, old key %s; want deleted and active", o.status(orphan.AccessKeyID), o.status(old))
	}
	newID, _, _ := remediate.RotationDetail(r.Detail)
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 || o.status(newID) != awsemu.StatusActive {
		t.Errorf("alice holds %v, want the old key and the new one %s", keys, newID)
	}
}

// TestRotationResumeAfterStore: a run cut off after it stored the new key
// (the secret's tag names it) but before it journaled the result is
// finished on resume without a second key: the secret's policy is put
// again and the rotation recorded as done.
func TestRotationResumeAfterStore(t *testing.T) {
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
	arn, err := o.sb.AddSecret(awsemu.SecretSpec{Account: acct, Region: awsemu.DefaultRegion, Name: "keywarden/iam-user/alice",
		SecretString: string(value), Tags: []awsemu.Tag{{Key: remediate.TagAccessKeyID, Value: stored.AccessKeyID}}})
	if err != nil {
		t.Fatal(err)
	}

	res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	r := res.Outcome.Results[0]
	newID, gotARN, ok := remediate.RotationDetail(r.Detail)
	if r.Outcome != store.OutcomeDone || !ok || newID != stored.AccessKeyID || gotARN != arn {
		t.Fatalf("result %s: %s; want done with the stored key %s in %s", r.Outcome, r.Detail, stored.AccessKeyID, arn)
	}
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 2 || o.status(stored.AccessKeyID) != awsemu.StatusActive || o.status(old) != awsemu.StatusActive {
		t.Errorf("alice holds %v; want the old key and the stored one", keys)
	}
	if sec, _ := o.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice"); !strings.Contains(sec.Policy, ":user/alice") {
		t.Errorf("the secret's policy %q does not let alice read it", sec.Policy)
	}
}

// TestRotationIntoExistingSecret: a later rotation puts a new version in
// the user's secret (the previous one stays as AWSPREVIOUS); when that is
// denied, the secret is unchanged and the new key deleted.
func TestRotationIntoExistingSecret(t *testing.T) {
	o := newOrg(t, 1)
	acct := o.prod
	old := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	// Made by an earlier rotation: tagged with its user.
	arn, err := o.sb.AddSecret(awsemu.SecretSpec{Account: acct, Region: awsemu.DefaultRegion, Name: "keywarden/iam-user/alice",
		SecretString: `{"AccessKeyId":"AKIAPREVIOUS","SecretAccessKey":"previous"}`, Tags: []awsemu.Tag{{Key: remediate.TagUser, Value: "alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	pol := mustPolicy(t, rotationYAML)
	ctx := t.Context()
	plan := func() *remediate.Plan {
		planned, err := o.engine(pol, "plan").Plan(ctx, orgRead)
		if err != nil {
			t.Fatal(err)
		}
		return roundTrip(t, planned.Plan)
	}

	o.sb.SetFaults(awsemu.Fault{Operation: "PutSecretValue", Deny: true})
	res, err := o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: plan(), Read: orgRead})
	o.sb.SetFaults()
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Outcome.Results[0]; r.Outcome != store.OutcomeFailed || !strings.Contains(r.Detail, "deleted at once") {
		t.Errorf("result %s: %s; want failed, the new key deleted", r.Outcome, r.Detail)
	}
	if keys := keysOf(t, o, acct, "alice"); len(keys) != 1 {
		t.Errorf("alice holds %v, want only the old key", keys)
	}
	if sec, _ := o.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice"); len(sec.Versions) != 1 {
		t.Errorf("the secret has %d versions, want it unchanged", len(sec.Versions))
	}

	res, err = o.engine(pol, "apply").Apply(ctx, engine.ApplyRequest{Plan: plan(), Read: orgRead})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Outcome.Results[0]
	newID, gotARN, ok := remediate.RotationDetail(r.Detail)
	if r.Outcome != store.OutcomeDone || !ok || gotARN != arn {
		t.Fatalf("result %s: %s; want done into %s", r.Outcome, r.Detail, arn)
	}
	sec, _ := o.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice")
	cur, _ := sec.Current()
	prev, _ := sec.Stage("AWSPREVIOUS")
	var v secretValue
	if err := json.Unmarshal([]byte(cur.SecretString), &v); err != nil || v.AccessKeyID != newID || !strings.Contains(prev.SecretString, "AKIAPREVIOUS") {
		t.Errorf("current %s, previous %s; want the new key current and the earlier one previous", v.AccessKeyID, prev.ID)
	}
	tags := map[string]string{}
	for _, tg := range sec.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags[remediate.TagAccessKeyID] != newID || tags[remediate.TagReplaces] != old || !strings.Contains(sec.Policy, ":user/alice") {
		t.Errorf("tags %v, policy %s", tags, sec.Policy)
	}
}

// TestRotationLeavesOthersSecrets: a secret of the rotation's name that
// keywarden did not make for the user (no keywarden:user tag naming it) is
// someone else's: its value and resource policy are left alone, the new
// key is deleted at once, and the action says how to hand the secret over.
func TestRotationLeavesOthersSecrets(t *testing.T) {
	for _, tags := range [][]awsemu.Tag{nil, {{Key: remediate.TagUser, Value: "bob"}}} {
		o := newOrg(t, 1)
		acct := o.prod
		o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive)
		name := "keywarden/iam-user/alice"
		if _, err := o.sb.AddSecret(awsemu.SecretSpec{Account: acct, Region: awsemu.DefaultRegion, Name: name,
			SecretString: `{"token":"theirs"}`, Tags: tags}); err != nil {
			t.Fatal(err)
		}
		before, _ := o.sb.Secret(acct, awsemu.DefaultRegion, name)
		pol := mustPolicy(t, rotationYAML)
		planned, err := o.engine(pol, "plan").Plan(t.Context(), orgRead)
		if err != nil {
			t.Fatal(err)
		}
		res, err := o.engine(pol, "apply").Apply(t.Context(), engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: orgRead})
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Outcome.Results[0]; r.Outcome != store.OutcomeFailed || !strings.Contains(r.Detail, "keywarden did not make it for user alice") ||
			!strings.Contains(r.Detail, "deleted at once") {
			t.Errorf("tags %v: result %s: %s; want failed, the secret left alone, the new key deleted", tags, r.Outcome, r.Detail)
		}
		after, _ := o.sb.Secret(acct, awsemu.DefaultRegion, name)
		if len(after.Versions) != len(before.Versions) || after.Policy != before.Policy {
			t.Errorf("tags %v: the secret changed: %d versions (was %d), policy %q (was %q)", tags, len(after.Versions), len(before.Versions), after.Policy, before.Policy)
		}
		if keys := keysOf(t, o, acct, "alice"); len(keys) != 1 {
			t.Errorf("tags %v: alice holds %v, want only the old key", tags, keys)
		}
	}
}
