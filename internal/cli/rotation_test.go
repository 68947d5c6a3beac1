package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/remediate"
)

// TestRotateCommandKeepsTheSecret rotates a key through the command line
// (plan, apply, history, undo) with a webhook channel, then looks for the
// new key's secret in everything written: stdout, stderr and debug logs,
// errors, the plan files, the state store, and every notification sent.
// The secret is only in Secrets Manager.
func TestRotateCommandKeepsTheSecret(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	acct := s.members[0]
	old := s.addKey(acct, "alice", 95*day, 0, awsemu.StatusActive).AccessKeyID
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	t.Setenv("KW_ROTATE_HOOK_SECRET", "whsec-rotate-cli")
	s.writePolicy(`version: 1
rules:
  max_age: {severity: medium, warn: 80d, rotate: 90d, deactivate: 120d, delete: 130d}
  unused: {enabled: false}
  unused_initial: {enabled: false}
rotation:
  enabled: true
notifications:
  default: {contact: cloud-team@example.com, channel: hook}
  security_team: {contact: secops@example.com, channel: hook}
  channels:
    hook: {type: webhook, url: "` + hook.URL + `", secret_env: KW_ROTATE_HOOK_SECRET}
`)
	planFile := s.path("plan.json")
	r := s.plan(planFile)
	wantExit(t, "plan", r, ExitOK)
	actions, _ := outlineOf(mustReadPlan(t, planFile))
	if actions[old] != remediate.Rotate {
		t.Fatalf("plan actions %v, want alice's key rotated", actions)
	}
	r = s.apply(planFile)
	wantExit(t, "apply", r, ExitOK)
	run := runIDOf(t, r.stdout)
	if !strings.Contains(r.stdout, "stored in secret arn:aws:secretsmanager:") {
		t.Errorf("apply says nothing of where the new key is:\n%s", r.stdout)
	}
	sec, ok := s.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice")
	if !ok {
		t.Fatal("no secret keywarden/iam-user/alice")
	}
	cur, _ := sec.Current()
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(cur.SecretString), &v); err != nil || v.SecretAccessKey == "" {
		t.Fatalf("secret value: %v", err)
	}
	s.secrets = append(s.secrets, v.SecretAccessKey)
	if ks, ok := s.sb.AccessKey(v.AccessKeyId); !ok || ks.User != "alice" || ks.Status != awsemu.StatusActive {
		t.Errorf("the stored key %s is %+v, want an active key of alice", v.AccessKeyId, ks)
	}

	// Where the rotation is: in the HTML report, in policy explain, and in
	// the next plan.
	report := s.path("report.html")
	r = s.kw("scan", "--org", "--config", s.config, "--state", s.state, "--format", "html", "--output", report)
	wantExit(t, "scan --format html --state", r, ExitOK)
	page := readFile(t, report)
	for _, want := range []string{`id="rotations"`, old, v.AccessKeyId, sec.ARN, "not yet", "once the new key is used"} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML report lacks %q in its rotations", want)
		}
	}
	r = s.kw("policy", "explain", "--account", acct, "--user", "alice", "--config", s.config, "--state", s.state)
	wantExit(t, "policy explain --state", r, ExitOK)
	for _, want := range []string{"rotation of " + old, v.AccessKeyId + ", created", "secret stored", sec.ARN, "new key used", "not yet",
		"old key quiet since", "cutover due", "once the new key is used", "deadline"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("policy explain lacks %q:\n%s", want, r.stdout)
		}
	}
	r = s.plan(s.path("plan-after.json"))
	wantExit(t, "plan after the rotation", r, ExitOK)
	if !strings.Contains(r.stdout, "Rotations") || !strings.Contains(r.stdout, old+" -> "+v.AccessKeyId+": waiting-for-use") {
		t.Errorf("the plan does not show the rotation:\n%s", r.stdout)
	}

	r = s.kw("history", "--state", s.state, "--run", run)
	wantExit(t, "history --run", r, ExitOK)
	r = s.kw("history", "--state", s.state, "--run", run, "--format", "json")
	wantExit(t, "history --run --format json", r, ExitOK)
	r = s.kw("undo", run, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo", r, ExitOK)
	if !strings.Contains(r.stdout, "left in place") || !strings.Contains(r.stdout, v.AccessKeyId) {
		t.Errorf("undo does not say the rotation is left in place:\n%s", r.stdout)
	}
	r = s.plan(s.path("plan2.json"))
	wantExit(t, "second plan", r, ExitOK)
	// Rotated already: no second rotation; the plan shows where it is.
	plan2 := mustReadPlan(t, s.path("plan2.json"))
	if actions, withheld := outlineOf(plan2); actions[old] != "" || withheld[old] != "" {
		t.Errorf("second plan: actions %v, withheld %v; want nothing for the rotated key", actions, withheld)
	}
	if len(plan2.Rotations) != 1 || plan2.Rotations[0].OldKeyID != old || plan2.Rotations[0].NewKeyID != v.AccessKeyId {
		t.Errorf("second plan's rotations %+v, want %s replaced by %s", plan2.Rotations, old, v.AccessKeyId)
	}

	mu.Lock()
	if len(bodies) == 0 {
		t.Error("no notification was sent")
	}
	found := false
	for _, b := range bodies {
		found = found || strings.Contains(b, "aws secretsmanager get-secret-value --secret-id "+sec.ARN)
	}
	if !found {
		t.Errorf("no notification says how to read the secret: %v", bodies)
	}
	s.written = append(s.written, bodies...)
	mu.Unlock()
	s.checkNoSecrets()
}

// TestRotateCommandMoto rotates keys in an organization built in moto
// (--as-of 95 days ahead makes its keys due): alice's key in every account
// is rotated into a secret of that account, bob (two keys) is withheld by
// the quota guard, and the secret's key is alice's.
func TestRotateCommandMoto(t *testing.T) {
	m := newMotoCommandOrg(t)
	keys, config, state, planFile := m.keys, m.config, m.state, m.planFile
	writeFile(t, config, "version: 1\nrules:\n  max_age: {rotate: 90d}\n  unused: {enabled: false}\n  unused_initial: {enabled: false}\n"+
		"  multiple_active: {enabled: false}\nrotation: {enabled: true}\nsafety:\n  max_account_fraction: 1\n")
	asOf := time.Now().UTC().Add(95 * day).Format(time.RFC3339)

	r := runKeywarden(t, "plan", "--org", "--as-of", asOf, "--config", config, "--state", state, "--out", planFile)
	wantExit(t, "plan", r, ExitOK)
	actions, withheld := outlineOf(mustReadPlan(t, planFile))
	for account, users := range keys {
		for _, k := range users["alice"] {
			if actions[aws.ToString(k.AccessKeyId)] != remediate.Rotate {
				t.Errorf("alice's key in %s: %q, want rotate", account, actions[aws.ToString(k.AccessKeyId)])
			}
		}
		for _, k := range users["bob"] {
			if withheld[aws.ToString(k.AccessKeyId)] != remediate.GuardKeyQuota {
				t.Errorf("bob's key in %s: withheld %q, want %s", account, withheld[aws.ToString(k.AccessKeyId)], remediate.GuardKeyQuota)
			}
		}
	}

	r = runKeywarden(t, "apply", planFile, "--auto-approve", "--unsafe-allow-forecast", "--config", config, "--state", state)
	wantExit(t, "apply", r, ExitOK)
	var secrets []string
	for account, users := range keys {
		if _, ok := users["alice"]; !ok {
			continue
		}
		cfg := m.configFor(account)
		got, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("keywarden/iam-user/alice")})
		if err != nil {
			t.Fatalf("the secret of alice in %s: %v", account, err)
		}
		var v struct{ AccessKeyId, SecretAccessKey string }
		if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &v); err != nil || v.SecretAccessKey == "" {
			t.Fatalf("secret value in %s: %v", account, err)
		}
		secrets = append(secrets, v.SecretAccessKey)
		list, err := iam.NewFromConfig(cfg).ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range list.AccessKeyMetadata {
			ids = append(ids, aws.ToString(k.AccessKeyId)+" "+string(k.Status))
		}
		if len(ids) != 2 || !slices.Contains(ids, v.AccessKeyId+" Active") || !slices.Contains(ids, aws.ToString(users["alice"][0].AccessKeyId)+" Active") {
			t.Errorf("alice's keys in %s: %v; want the old key and the stored one (%s), both active", account, ids, v.AccessKeyId)
		}
	}
	for _, out := range []string{r.stdout, r.stderr, readFile(t, planFile)} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("a rotated key's secret was written")
			}
		}
	}
}

// TestRotateOnDemand: 'keywarden rotate' rotates one user's key whatever
// its age, shown as a plan and confirmed like apply; --deactivate-now
// deactivates the old key as soon as the new one is stored; undo
// reactivates it and leaves the new key and its secret; the secret is
// nowhere but in Secrets Manager.
func TestRotateOnDemand(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	acct := s.members[0]
	old := s.addKey(acct, "alice", 30*day, time.Hour, awsemu.StatusActive).AccessKeyID
	bob := s.addKey(acct, "bob", 30*day, time.Hour, awsemu.StatusActive).AccessKeyID
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	t.Setenv("KW_ROTATE_HOOK_SECRET", "whsec-rotate-cli")
	// Rotation is not enabled: asking by hand is enough.
	s.writePolicy(`version: 1
notifications:
  default: {contact: cloud-team@example.com, channel: hook}
  channels:
    hook: {type: webhook, url: "` + hook.URL + `", secret_env: KW_ROTATE_HOOK_SECRET}
`)
	base := []string{"rotate", "--account", acct, "--config", s.config, "--state", s.state}

	t.Run("usage", func(t *testing.T) {
		wantExit(t, "rotate without --user", s.kw("rotate", "--account", acct, "--config", s.config, "--state", s.state), ExitUsage)
		wantExit(t, "rotate with a bad account", s.kw("rotate", "--account", "12", "--user", "alice", "--config", s.config), ExitUsage)
		r := s.kw(append(base, "--user", "carol", "--auto-approve")...)
		wantRefused(t, "rotate of an unknown user", r, "no user carol")
		r = s.kw(append(base, "--user", "alice", "--key", bob, "--auto-approve")...)
		wantRefused(t, "rotate of another user's key", r, "has no key "+bob)
		wantExit(t, "rotate with a malformed --key", s.kw(append(base, "--user", "alice", "--key", "akia-lower", "--auto-approve")...), ExitUsage)
		wantExit(t, "rotate --as-of", s.kw(append(base, "--user", "alice", "--as-of", "2030-01-01", "--auto-approve")...), ExitUsage)
	})

	t.Run("confirmation", func(t *testing.T) {
		saved := confirmInput
		defer func() { confirmInput = saved }()
		confirmInput = func(*cobra.Command) (io.Reader, bool) { return strings.NewReader("wrong\n"), true }
		r := s.kw(append(base, "--user", "bob")...)
		if r.err == nil || !strings.Contains(r.err.Error(), "cancelled") || !strings.Contains(r.stdout, "type the plan's ID") {
			t.Errorf("rotate with the wrong ID typed: %v\n%s", r.err, r.stdout)
		}
		confirmInput = func(*cobra.Command) (io.Reader, bool) { return strings.NewReader(""), false }
		r = s.kw(append(base, "--user", "bob")...)
		if r.err == nil || !strings.Contains(r.err.Error(), "without a terminal") {
			t.Errorf("rotate without a terminal: %v", r.err)
		}
		if ks, _ := s.sb.AccessKey(bob); ks.Status != awsemu.StatusActive || len(s.sb.Secrets(acct)) != 0 {
			t.Errorf("after cancelled rotations: bob's key %s, %d secrets; want nothing changed", ks.Status, len(s.sb.Secrets(acct)))
		}
	})

	r := s.kw(append(base, "--user", "alice", "--deactivate-now", "--auto-approve")...)
	wantExit(t, "rotate --deactivate-now", r, ExitOK)
	for _, want := range []string{"rotate", old, "on_demand", "stored in secret arn:aws:secretsmanager:", remediate.StageDeactivateNow} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rotate's output lacks %q:\n%s", want, r.stdout)
		}
	}
	run := runIDOf(t, r.stdout)
	sec, ok := s.sb.Secret(acct, awsemu.DefaultRegion, "keywarden/iam-user/alice")
	if !ok {
		t.Fatal("no secret keywarden/iam-user/alice")
	}
	cur, _ := sec.Current()
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(cur.SecretString), &v); err != nil || v.SecretAccessKey == "" {
		t.Fatalf("secret value: %v", err)
	}
	s.secrets = append(s.secrets, v.SecretAccessKey)
	if ks, _ := s.sb.AccessKey(old); ks.Status != awsemu.StatusInactive {
		t.Errorf("the old key is %s, want Inactive (--deactivate-now)", ks.Status)
	}
	// The stored key works, as alice: the sandbox checks its signature.
	who, err := sts.NewFromConfig(s.configFor(awsemu.Key{AccessKeyID: v.AccessKeyId, SecretAccessKey: v.SecretAccessKey})).
		GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil || !strings.HasSuffix(aws.ToString(who.Arn), ":user/alice") {
		t.Errorf("the stored key signs as %v (%v), want alice", who, err)
	}

	r = s.kw(append(base, "--user", "alice", "--key", old, "--auto-approve")...)
	wantRefused(t, "rotate of an inactive key", r, "not rotated", "is inactive")

	r = s.kw("undo", run, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo", r, ExitOK)
	if !strings.Contains(r.stdout, "left in place") || !strings.Contains(r.stdout, v.AccessKeyId) {
		t.Errorf("undo does not say the new key is left in place:\n%s", r.stdout)
	}
	if ks, _ := s.sb.AccessKey(old); ks.Status != awsemu.StatusActive {
		t.Errorf("after undo the old key is %s, want Active", ks.Status)
	}
	if ks, _ := s.sb.AccessKey(v.AccessKeyId); ks.Status != awsemu.StatusActive || len(s.sb.Secrets(acct)) != 1 {
		t.Errorf("after undo the new key is %s with %d secrets, want it active in its secret", ks.Status, len(s.sb.Secrets(acct)))
	}

	// A second rotation of alice: she holds two active keys now.
	r = s.kw(append(base, "--user", "alice", "--auto-approve")...)
	wantRefused(t, "a rotation without --key of a user with two active keys", r, "two active keys", "--key")
	r = s.kw(append(base, "--user", "alice", "--key", old, "--auto-approve")...)
	wantRefused(t, "a second rotation", r, "not rotated", "key-quota")

	mu.Lock()
	s.written = append(s.written, bodies...)
	mu.Unlock()
	s.checkNoSecrets()
}

// TestRotateCutoverMoto: against moto, which records a key's last use when
// it signs a request: 'keywarden rotate' stores a new key of alice in a
// member account; once it has signed a call, a plan a day and more later
// (--as-of) cuts over: the old key is deactivated; undo reactivates it and
// leaves the new key.
func TestRotateCutoverMoto(t *testing.T) {
	m := newMotoCommandOrg(t)
	keys, config, state, planFile := m.keys, m.config, m.state, m.planFile
	writeFile(t, config, "version: 1\nrules:\n  unused: {enabled: false}\n  unused_initial: {enabled: false}\n"+
		"  multiple_active: {enabled: false}\nsafety:\n  max_account_fraction: 1\n")
	acct := ""
	for account, users := range keys {
		if _, hubAccount := users["keywarden-admin"]; !hubAccount && len(users["alice"]) == 1 && acct == "" {
			acct = account
		}
	}
	if acct == "" {
		t.Fatal("no member account with alice")
	}
	old := aws.ToString(keys[acct]["alice"][0].AccessKeyId)
	cfg := m.configFor(acct)
	status := func(id string) string {
		t.Helper()
		list, err := iam.NewFromConfig(cfg).ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range list.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == id {
				return string(k.Status)
			}
		}
		return "deleted"
	}

	r := runKeywarden(t, "rotate", "--account", acct, "--user", "alice", "--auto-approve", "--config", config, "--state", state)
	wantExit(t, "rotate", r, ExitOK)
	got, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("keywarden/iam-user/alice")})
	if err != nil {
		t.Fatalf("the secret of alice in %s: %v", acct, err)
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &v); err != nil || v.SecretAccessKey == "" {
		t.Fatalf("secret value: %v", err)
	}
	if status(old) != "Active" || status(v.AccessKeyId) != "Active" {
		t.Fatalf("after the rotation: old %s, new %s; want both active", status(old), status(v.AccessKeyId))
	}
	outputs := []string{r.stdout, r.stderr}

	// Not used yet: a plan two days on does not touch the old key.
	asOf := time.Now().UTC().Add(2 * day).Format(time.RFC3339)
	r = runKeywarden(t, "plan", "--accounts", acct, "--as-of", asOf, "--config", config, "--state", state, "--out", planFile)
	wantExit(t, "plan before the new key is used", r, ExitOK)
	if actions, _ := outlineOf(mustReadPlan(t, planFile)); actions[old] != "" {
		t.Errorf("before the new key is used the plan has %s for the old key", actions[old])
	}
	outputs = append(outputs, r.stdout, r.stderr, readFile(t, planFile))

	// The application moves to the new key: it signs a call.
	user := iam.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(m.url),
		Credentials: credentials.NewStaticCredentialsProvider(v.AccessKeyId, v.SecretAccessKey, "")})
	if _, err := user.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String("alice")}); err != nil {
		t.Fatalf("a call signed with the new key: %v", err)
	}
	r = runKeywarden(t, "plan", "--accounts", acct, "--as-of", asOf, "--config", config, "--state", state, "--out", planFile)
	wantExit(t, "plan once the new key is used", r, ExitOK)
	p := mustReadPlan(t, planFile)
	if actions, _ := outlineOf(p); actions[old] != remediate.Deactivate {
		t.Fatalf("once the new key is used and the old one quiet, the plan has %q for the old key, want deactivate; rotations %+v", actions[old], p.Rotations)
	}
	outputs = append(outputs, r.stdout, r.stderr, readFile(t, planFile))
	r = runKeywarden(t, "apply", planFile, "--auto-approve", "--unsafe-allow-forecast", "--config", config, "--state", state)
	wantExit(t, "apply of the cutover", r, ExitOK)
	if status(old) != "Inactive" || status(v.AccessKeyId) != "Active" {
		t.Fatalf("after the cutover: old %s, new %s", status(old), status(v.AccessKeyId))
	}
	outputs = append(outputs, r.stdout, r.stderr)

	r = runKeywarden(t, "undo", runIDOf(t, r.stdout), "--auto-approve", "--config", config, "--state", state)
	wantExit(t, "undo of the cutover", r, ExitOK)
	if status(old) != "Active" || status(v.AccessKeyId) != "Active" {
		t.Errorf("after undo: old %s, new %s; want both active", status(old), status(v.AccessKeyId))
	}
	outputs = append(outputs, r.stdout, r.stderr)
	for _, out := range outputs {
		if strings.Contains(out, v.SecretAccessKey) {
			t.Errorf("the new key's secret was written")
		}
	}
}
