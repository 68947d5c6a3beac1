package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store/sqlite"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
)

// End-to-end tests of plan, apply, undo and history against hand-built
// organizations in the sandbox (and one in moto), checking the keys' states
// in AWS afterwards, the journal, and every guard of docs/safety.md.

const day = 24 * time.Hour

// remSandbox is a hand-built organization in the sandbox: a management
// account holding the hub admin, member accounts with the spoke role, and
// keys added with exact ages. The environment of the test points at it as
// the hub admin, so a test using it cannot run in parallel.
type remSandbox struct {
	t       *testing.T
	sb      *awsemu.Sandbox
	url     string
	mgmt    string
	members []string // sorted, as a plan sorts its actions
	admin   awsemu.Key
	hub     aws.Config
	// keys are the keys added, by ID; secrets every secret the sandbox
	// issued for them, the admin's included.
	keys    map[string]seededKey
	users   map[string]bool
	secrets []string
	// inflight counts the requests the sandbox is serving.
	inflight atomic.Int64

	dir, state, config string
	// written is everything the commands run through kw wrote.
	written []string
}

type seededKey struct{ account, user string }

// newRemSandbox builds the organization with the given number of member
// accounts. A nil clock follows the wall clock.
func newRemSandbox(t *testing.T, members int, clock *awsemu.Clock) *remSandbox {
	t.Helper()
	sb := awsemu.New(awsemu.Options{Seed: 5, Clock: clock})
	dir := t.TempDir()
	s := &remSandbox{t: t, sb: sb, keys: map[string]seededKey{}, users: map[string]bool{},
		dir: dir, state: filepath.Join(dir, "state", "state.db"), config: filepath.Join(dir, "keywarden.yaml")}
	now := sb.Clock().Now()
	mgmt, err := sb.AddAccount(awsemu.AccountSpec{Name: "management", CreatedAt: now.Add(-1000 * day)})
	if err != nil {
		t.Fatal(err)
	}
	rootID, err := sb.CreateOrganization(mgmt)
	if err != nil {
		t.Fatal(err)
	}
	s.mgmt = mgmt
	for i := range members {
		id, err := sb.AddAccount(awsemu.AccountSpec{Name: fmt.Sprintf("member-%d", i+1), CreatedAt: now.Add(-500 * day)})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.JoinOrganization(id, rootID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{orggenRole, orggen.DefaultActRoleName} {
			if err := sb.AddRole(awsemu.RoleSpec{Account: id, Name: name, TrustedAccounts: []string{mgmt}}); err != nil {
				t.Fatal(err)
			}
		}
		s.members = append(s.members, id)
	}
	sort.Strings(s.members)
	// The hub admin's key is old and, as seeded, never used: every rule
	// would act on it but the own-key guard.
	s.admin = s.addKey(mgmt, "keywarden-admin", 200*day, 0, awsemu.StatusActive)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	useAWS(t, srv.URL, s.admin.AccessKeyID, s.admin.SecretAccessKey)
	s.hub = s.configFor(s.admin)
	s.writePolicy(stagedPolicyYAML)
	return s
}

// stagedPolicyYAML judges keys by age only, through every stage.
const stagedPolicyYAML = `version: 1
rules:
  max_age:
    severity: medium
    warn: 80d
    deactivate: 100d
    delete: 110d
  unused:
    enabled: false
  unused_initial:
    enabled: false
safety:
  protected_users: ["break-glass-*"]
`

func (s *remSandbox) writePolicy(content string) { writeFile(s.t, s.config, content) }

// addKey adds a key of age age to user (created if needed) in account,
// last used usedAgo ago (0: never), and returns it.
func (s *remSandbox) addKey(account, user string, age, usedAgo time.Duration, status string) awsemu.Key {
	s.t.Helper()
	now := s.sb.Clock().Now()
	if !s.users[account+"/"+user] {
		if err := s.sb.AddUser(awsemu.UserSpec{Account: account, Name: user, CreatedAt: now.Add(-age - day)}); err != nil {
			s.t.Fatal(err)
		}
		s.users[account+"/"+user] = true
	}
	spec := awsemu.KeySpec{Account: account, User: user, Status: status, CreatedAt: now.Add(-age)}
	if usedAgo > 0 {
		spec.LastUsed, spec.LastUsedService, spec.LastUsedRegion = now.Add(-usedAgo), "s3", "eu-west-1"
	}
	k, err := s.sb.AddAccessKey(spec)
	if err != nil {
		s.t.Fatal(err)
	}
	s.keys[k.AccessKeyID] = seededKey{account, user}
	s.secrets = append(s.secrets, k.SecretAccessKey)
	return k
}

// configFor is a configuration signing with key.
func (s *remSandbox) configFor(key awsemu.Key) aws.Config {
	s.t.Helper()
	return awstest.Config(s.t, s.url, key.AccessKeyID, key.SecretAccessKey)
}

// memberIAM is an IAM client acting in a member account through the spoke
// role, as an operator would by hand.
func (s *remSandbox) memberIAM(account string) *iam.Client {
	a := awsx.NewAssumer(s.hub, awsx.AssumerOptions{RoleName: orggenRole, SessionName: "operator"})
	return iam.NewFromConfig(a.Config(account, nil))
}

// kw runs keywarden with debug logs and keeps what it wrote.
func (s *remSandbox) kw(args ...string) cmdResult {
	s.t.Helper()
	r := runKeywarden(s.t, append([]string{"--log-level", "debug"}, args...)...)
	s.written = append(s.written, r.stdout, r.stderr)
	if r.err != nil {
		s.written = append(s.written, r.err.Error())
	}
	return r
}

func (s *remSandbox) plan(out string, args ...string) cmdResult {
	s.t.Helper()
	return s.kw(append([]string{"plan", "--org", "--config", s.config, "--state", s.state, "--out", out}, args...)...)
}

func (s *remSandbox) apply(planFile string, args ...string) cmdResult {
	s.t.Helper()
	return s.kw(append([]string{"apply", planFile, "--auto-approve", "--config", s.config, "--state", s.state}, args...)...)
}

func (s *remSandbox) path(name string) string { return filepath.Join(s.dir, name) }

// statuses is the status of every key added, "deleted" for a key gone.
func (s *remSandbox) statuses() map[string]string {
	out := map[string]string{}
	for id := range s.keys {
		st, ok := s.sb.AccessKey(id)
		if !ok {
			out[id] = "deleted"
			continue
		}
		out[id] = st.Status
	}
	return out
}

// checkStatuses compares the keys' states in the sandbox with before
// changed by the plan's actions: deactivated ones Inactive, deleted ones
// gone, every other key as it was.
func (s *remSandbox) checkStatuses(what string, before map[string]string, p *remediate.Plan) {
	s.t.Helper()
	want := map[string]string{}
	for id, st := range before {
		want[id] = st
	}
	if p != nil {
		for _, a := range p.Actions {
			switch a.Type {
			case remediate.Deactivate:
				want[a.AccessKeyID] = awsemu.StatusInactive
			case remediate.Delete:
				want[a.AccessKeyID] = "deleted"
			}
		}
	}
	if diff := cmp.Diff(want, s.statuses()); diff != "" {
		s.t.Errorf("%s: key states in AWS (-want +got):\n%s", what, diff)
	}
}

// checkNoSecrets looks for every secret in everything the commands wrote
// and in the raw bytes of every file under the test's directory: plans,
// the state store and its companions.
func (s *remSandbox) checkNoSecrets() {
	s.t.Helper()
	written := append([]string(nil), s.written...)
	files := 0
	err := filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		written = append(written, path+":\n"+string(b))
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	if files < 2 {
		s.t.Fatalf("only %d files to look into", files)
	}
	for _, w := range written {
		for _, secret := range s.secrets {
			if strings.Contains(w, secret) {
				s.t.Errorf("a secret access key was written:\n%.2000s", w)
			}
		}
	}
}

func mustReadPlan(t *testing.T, path string) *remediate.Plan {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := remediate.ReadPlan(f, path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// outlineOf is a plan's actions and withheld actions by key ID: the action
// type, and the guard.
func outlineOf(p *remediate.Plan) (actions, withheld map[string]string) {
	actions, withheld = map[string]string{}, map[string]string{}
	for _, a := range p.Actions {
		actions[a.AccessKeyID] = a.Type
	}
	for _, w := range p.Withheld {
		withheld[w.AccessKeyID] = w.Guard
	}
	return actions, withheld
}

var runIDPattern = regexp.MustCompile(`as run (\S+) \(`)

// runIDOf finds the run ID an apply printed.
func runIDOf(t *testing.T, stdout string) string {
	t.Helper()
	m := runIDPattern.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no run ID in the apply's output:\n%s", stdout)
	}
	return m[1]
}

func wantExit(t *testing.T, what string, r cmdResult, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: exit code %d (%v), want %d; stdout:\n%s\nstderr:\n%s", what, r.code, r.err, code, r.stdout, r.stderr)
	}
}

// wantRefused checks that a command failed with exit code 1 and an error
// containing every fragment.
func wantRefused(t *testing.T, what string, r cmdResult, fragments ...string) {
	t.Helper()
	if r.code != ExitError || r.err == nil {
		t.Errorf("%s: exit code %d (%v), want %d with an error", what, r.code, r.err, ExitError)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(r.err.Error(), f) {
			t.Errorf("%s: error %q, want it to contain %q", what, r.err, f)
		}
	}
}

// TestApplyCommandSandbox is the whole workflow on an organization where
// each key meets one guard or rule: plan, apply, the keys' states after,
// a second apply refused, a fresh plan without changes, history, undo. No
// command writes a secret, nor does any file they leave.
func TestApplyCommandSandbox(t *testing.T) {
	s := newRemSandbox(t, 2, nil)
	a, b := s.members[0], s.members[1]
	alice := s.addKey(a, "alice", 120*day, 30*day, awsemu.StatusActive).AccessKeyID // delete stage, active: deactivate
	s.addKey(a, "bob", 30*day, day, awsemu.StatusActive)                            // young: nothing
	glass := s.addKey(a, "break-glass-ops", 150*day, 0, awsemu.StatusActive).AccessKeyID
	frank := s.addKey(a, "frank", 150*day, 2*time.Hour, awsemu.StatusActive).AccessKeyID // used 2h ago
	carol := s.addKey(b, "carol", 105*day, 0, awsemu.StatusActive).AccessKeyID
	dave := s.addKey(b, "dave", 85*day, 3*day, awsemu.StatusActive).AccessKeyID // warn stage
	erin := s.addKey(b, "erin", 130*day, 40*day, awsemu.StatusInactive).AccessKeyID
	before := s.statuses()

	planFile := s.path("plan.json")
	r := s.plan(planFile, "--detailed-exitcode")
	wantExit(t, "plan with changes --detailed-exitcode", r, 2)
	if r.err == nil || !strings.Contains(r.err.Error(), "changes") {
		t.Errorf("plan --detailed-exitcode: error %v, want ErrChanges", r.err)
	}
	matchLines(t, r.stdout, []string{
		`^ACTION +ACCOUNT +USER +KEY ID +RULES +WHY`,
		`^Withheld by the safety guards`,
		`^Plan: 2 to deactivate, 0 to delete, 1 warning\. 4 withheld by guards\.$`,
		`^Saved the plan to .*plan\.json\. Apply it with: keywarden apply .*plan\.json$`,
	})
	p := mustReadPlan(t, planFile)
	actions, withheld := outlineOf(p)
	if diff := cmp.Diff(map[string]string{alice: "deactivate", carol: "deactivate", dave: "notify"}, actions); diff != "" {
		t.Errorf("plan actions by key (-want +got):\n%s", diff)
	}
	wantWithheld := map[string]string{
		s.admin.AccessKeyID: remediate.GuardSelfKey, glass: remediate.GuardProtectedUser,
		frank: remediate.GuardRecentUse, erin: remediate.GuardDeactivationDate,
	}
	if diff := cmp.Diff(wantWithheld, withheld); diff != "" {
		t.Errorf("plan withheld by key (-want +got):\n%s", diff)
	}
	if p.Limits.Exceeded || len(p.Accounts) != 3 || !strings.HasSuffix(p.Caller, ":user/keywarden-admin") {
		t.Errorf("plan: limits %+v, %d accounts, caller %s; want within limits, 3 accounts, the hub admin", p.Limits, len(p.Accounts), p.Caller)
	}
	for _, act := range p.Actions {
		if act.ID == "" || act.Key.CreatedAt.IsZero() || act.Key.Status != awsemu.StatusActive || act.Reason == "" || len(act.Rules) == 0 {
			t.Errorf("action %+v: want an ID, the key's state it relied on, a reason and rules", act)
		}
	}
	s.checkStatuses("after plan (planning changes nothing)", before, nil)

	r = s.apply(planFile)
	wantExit(t, "apply", r, ExitOK)
	run := runIDOf(t, r.stdout)
	s.checkStatuses("after apply", before, p)
	matchLines(t, r.stdout, []string{
		`deactivate +` + a + ` alice ` + alice + `: done$`,
		`deactivate +` + b + ` carol ` + carol + `: done$`,
		`notify +` + b + ` dave ` + dave + `: done`,
		`^Run ` + regexp.QuoteMeta(run) + ` done: 3 done, 0 already done, 0 skipped, 0 failed\.$`,
		`^Undo its deactivations with: keywarden undo ` + regexp.QuoteMeta(run) + `$`,
	})

	r = s.apply(planFile)
	wantRefused(t, "second apply of the same plan", r, "already been applied", "keywarden history --run "+run)
	s.checkStatuses("after a refused second apply", before, p)

	r = s.plan(s.path("plan2.json"), "--detailed-exitcode")
	wantExit(t, "plan after apply --detailed-exitcode", r, ExitOK)
	p2 := mustReadPlan(t, s.path("plan2.json"))
	if p2.Changes() {
		t.Errorf("plan after apply changes keys: %+v", p2.Actions)
	}
	// alice is past her delete stage, but was deactivated just now.
	if _, w := outlineOf(p2); w[alice] != remediate.GuardDeleteDelay || w[carol] != "" {
		t.Errorf("plan after apply withheld %v; want alice's deletion withheld by %s, nothing for carol", w, remediate.GuardDeleteDelay)
	}

	r = s.kw("history", "--state", s.state)
	wantExit(t, "history", r, ExitOK)
	matchLines(t, r.stdout, []string{`^RUN +COMMAND`, `^` + regexp.QuoteMeta(run) + ` +apply +done .* ` + p.ID + ` +3 done, 0 already, 0 skipped, 0 failed, 0 pending$`})
	r = s.kw("history", "--state", s.state, "--run", run)
	wantExit(t, "history --run", r, ExitOK)
	matchLines(t, r.stdout, []string{
		`^run ` + regexp.QuoteMeta(run) + `: apply done by arn:aws:iam::` + s.mgmt + `:user/keywarden-admin`,
		`deactivate +` + a + ` +alice +` + alice + ` +max_age +done +\S+$`, // with the request ID
		`deactivate +` + b + ` +carol +` + carol + ` +max_age +done +\S+$`,
		`notify +` + b + ` +dave +` + dave + ` +max_age +done`,
	})

	r = s.kw("undo", run, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo", r, ExitOK)
	s.checkStatuses("after undo", before, nil)
	matchLines(t, r.stdout, []string{`^To reactivate \(2\):$`, `^Undo run \S+ done: 2 reactivated, 0 already active, 0 skipped, 0 failed\.$`})
	r = s.kw("history", "--state", s.state)
	matchLines(t, r.stdout, []string{`^RUN`, ` +undo +done .* undo of ` + regexp.QuoteMeta(run) + ` +2 done`, `^` + regexp.QuoteMeta(run) + ` +apply +done`})

	// Undone, the keys are judged afresh: no delete-delay from a
	// deactivation that was undone.
	r = s.plan(s.path("plan3.json"))
	wantExit(t, "plan after undo", r, ExitOK)
	if actions, _ := outlineOf(mustReadPlan(t, s.path("plan3.json"))); actions[alice] != remediate.Deactivate || actions[carol] != remediate.Deactivate {
		t.Errorf("plan after undo: actions %v, want alice and carol deactivated again", actions)
	}

	s.checkNoSecrets()
}

// TestApplyCommandRefusesPlans: a stale plan, a plan made under another
// policy, and an apply without a terminal or with the wrong confirmation
// change nothing; typing the plan's ID applies it.
func TestApplyCommandRefusesPlans(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	alice := s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	s.writePolicy(stagedPolicyYAML + "  max_plan_age: 1h\n")
	before := s.statuses()

	t.Run("stale", func(t *testing.T) {
		planFile := s.path("stale.json")
		wantExit(t, "plan", s.plan(planFile), ExitOK)
		// The plan file as it would be two hours later.
		var raw map[string]any
		if err := json.Unmarshal([]byte(readFile(t, planFile)), &raw); err != nil {
			t.Fatal(err)
		}
		raw["created_at"] = time.Now().UTC().Add(-2 * time.Hour).Format(time.RFC3339Nano)
		b, _ := json.Marshal(raw)
		writeFile(t, planFile, string(b))
		r := s.apply(planFile)
		wantRefused(t, "apply of a stale plan", r, "too old", "made 2h0m0s ago", "safety.max_plan_age is 1h", "keywarden plan")
		s.checkStatuses("after a stale plan", before, nil)
	})

	t.Run("other policy", func(t *testing.T) {
		planFile := s.path("other.json")
		wantExit(t, "plan", s.plan(planFile), ExitOK)
		s.writePolicy(strings.Replace(stagedPolicyYAML, "warn: 80d", "warn: 70d", 1) + "  max_plan_age: 1h\n")
		defer s.writePolicy(stagedPolicyYAML + "  max_plan_age: 1h\n")
		r := s.apply(planFile)
		wantRefused(t, "apply under another policy", r, "another policy", s.config, "keywarden plan")
		s.checkStatuses("after a plan from another policy", before, nil)
	})

	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	p := mustReadPlan(t, planFile)
	// apply runs the apply command with in as its standard input, a
	// terminal or not.
	apply := func(in io.Reader, isTerm bool) (string, error) {
		saved := confirmInput
		confirmInput = func(*cobra.Command) (io.Reader, bool) { return in, isTerm }
		defer func() { confirmInput = saved }()
		r := s.kw("apply", planFile, "--config", s.config, "--state", s.state)
		return r.stdout, r.err
	}

	t.Run("no terminal", func(t *testing.T) {
		_, err := apply(strings.NewReader(p.ID+"\n"), false)
		if err == nil || !strings.Contains(err.Error(), "without a terminal") || !strings.Contains(err.Error(), "--auto-approve") {
			t.Errorf("apply without a terminal: %v, want a refusal naming --auto-approve", err)
		}
		s.checkStatuses("after apply without a terminal", before, nil)
	})

	t.Run("wrong confirmation", func(t *testing.T) {
		out, err := apply(strings.NewReader("wrong\n"), true)
		if err == nil || !strings.Contains(err.Error(), "cancelled") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("apply with the wrong ID typed: %v, want it cancelled", err)
		}
		if !strings.Contains(out, "type the plan's ID ("+p.ID+")") {
			t.Errorf("apply did not ask for the plan's ID:\n%s", out)
		}
		s.checkStatuses("after a cancelled apply", before, nil)
		if _, err := apply(strings.NewReader("y\n"), true); err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("apply with y typed: %v, want it cancelled: y is not enough", err)
		}
		s.checkStatuses("after a cancelled apply", before, nil)
	})

	t.Run("confirmed", func(t *testing.T) {
		out, err := apply(strings.NewReader(p.ID+"\n"), true)
		if err != nil {
			t.Fatalf("apply with the plan's ID typed: %v\n%s", err, out)
		}
		s.checkStatuses("after a confirmed apply", before, p)
		if st, _ := s.sb.AccessKey(alice); st.Status != awsemu.StatusInactive {
			t.Errorf("alice's key is %s, want Inactive", st.Status)
		}
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestApplyCommandLimits: a plan over the caps is refused whole, and
// --unsafe-allow-bulk applies it.
func TestApplyCommandLimits(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	a := s.members[0]
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		s.addKey(a, u, 105*day, 20*day, awsemu.StatusActive)
	}
	s.writePolicy(stagedPolicyYAML + "  max_actions: 3\n")
	before := s.statuses()
	planFile := s.path("plan.json")
	r := s.plan(planFile)
	wantExit(t, "plan", r, ExitOK)
	matchLines(t, r.stdout, []string{`^Over the safety limits — apply will refuse this plan:`,
		`4 deactivations and deletions, more than safety\.max_actions \(3\)`,
		`account ` + a + `: 4 of its 4 active keys deactivated, more than safety\.max_account_fraction \(0\.25\) allows \(1\)`,
		`^Plan: 4 to deactivate`,
		`^Apply would refuse this plan: it is over the safety limits\. Narrow it`})
	if strings.Contains(r.stdout, "Apply it with") {
		t.Errorf("plan over the limits says to apply it:\n%s", r.stdout)
	}
	p := mustReadPlan(t, planFile)
	if !p.Limits.Exceeded || len(p.Limits.Reasons) != 2 {
		t.Errorf("limits %+v, want exceeded for both caps", p.Limits)
	}

	r = s.apply(planFile)
	wantRefused(t, "apply over the limits", r, "over the safety limits", "nothing was applied", "--unsafe-allow-bulk")
	s.checkStatuses("after a refused apply", before, nil)

	r = s.apply(planFile, "--unsafe-allow-bulk")
	wantExit(t, "apply --unsafe-allow-bulk", r, ExitOK)
	s.checkStatuses("after apply --unsafe-allow-bulk", before, p)
}

// TestApplyCommandPartial: an account whose role cannot be assumed gets no
// action; the others are acted on; plan and the one-go apply exit 3.
func TestApplyCommandPartial(t *testing.T) {
	s := newRemSandbox(t, 2, nil)
	good, bad := s.members[0], s.members[1]
	k1 := s.addKey(good, "alice", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	s.addKey(bad, "bob", 105*day, 20*day, awsemu.StatusActive)
	s.sb.SetFaults(awsemu.Fault{Account: bad, DenyAssumeRole: true})
	before := s.statuses()

	planFile := s.path("plan.json")
	r := s.plan(planFile)
	wantExit(t, "plan with a failed account", r, ExitPartial)
	matchLines(t, r.stdout, []string{`^No action for accounts that could not be read: ` + bad + `$`, `^Plan: 1 to deactivate`})
	p := mustReadPlan(t, planFile)
	if actions, _ := outlineOf(p); len(actions) != 1 || actions[k1] != remediate.Deactivate {
		t.Errorf("plan actions %v, want only alice's key in %s", actions, good)
	}
	for _, acct := range p.Accounts {
		if (acct.ID == bad) != (acct.Status != "ok") || (acct.ID == bad && acct.Error == "") {
			t.Errorf("plan account %+v: want only %s failed, with its error", acct, bad)
		}
	}

	// For schedules: plan and apply in one go.
	r = s.kw("apply", "--org", "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "apply --auto-approve with a failed account", r, ExitPartial)
	s.checkStatuses("after the one-go apply", before, p)

	// The saved plan, applied after: its action is already done.
	r = s.apply(planFile)
	if r.code != ExitOK && r.code != ExitPartial {
		t.Errorf("apply of the saved plan: exit %d (%v)\n%s", r.code, r.err, r.stderr)
	}
	matchLines(t, r.stdout, []string{`deactivate +` + good + ` alice ` + k1 + `: already-done \(the key was already inactive\)$`})
	s.checkStatuses("after the saved plan", before, p)
}

// TestApplyCommandLiveReread: between plan and apply one key is used and
// another deactivated by hand; apply skips the first, records the second
// as already done, and acts on the third.
func TestApplyCommandLiveReread(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	a := s.members[0]
	alice := s.addKey(a, "alice", 200*day, 30*day, awsemu.StatusActive)
	bob := s.addKey(a, "bob", 200*day, 30*day, awsemu.StatusActive).AccessKeyID
	carol := s.addKey(a, "carol", 200*day, 0, awsemu.StatusActive).AccessKeyID
	s.writePolicy(stagedPolicyYAML + "  max_account_fraction: 1\n")
	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	p := mustReadPlan(t, planFile)
	if actions, _ := outlineOf(p); len(actions) != 3 {
		t.Fatalf("plan actions %v, want the three keys deactivated", actions)
	}

	// IAM records a key's use at most every 15 minutes.
	s.sb.Clock().Advance(20 * time.Minute)
	if _, err := sts.NewFromConfig(s.configFor(alice)).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("use alice's key: %v", err)
	}
	if _, err := s.memberIAM(a).UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{UserName: aws.String("bob"),
		AccessKeyId: aws.String(bob), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatalf("deactivate bob's key by hand: %v", err)
	}
	before := s.statuses()

	r := s.apply(planFile)
	wantExit(t, "apply", r, ExitOK)
	run := runIDOf(t, r.stdout)
	matchLines(t, r.stdout, []string{
		`deactivate +` + a + ` alice ` + alice.AccessKeyID + `: skipped \(used since the plan was made \(last used \S+\); make a new plan\)$`,
		`deactivate +` + a + ` bob ` + bob + `: already-done \(the key was already inactive\)$`,
		`deactivate +` + a + ` carol ` + carol + `: done$`,
		`^Run \S+ done: 1 done, 1 already done, 1 skipped, 0 failed\.$`,
	})
	before[carol] = awsemu.StatusInactive
	s.checkStatuses("after apply", before, nil)
	r = s.kw("history", "--state", s.state, "--run", run)
	matchLines(t, r.stdout, []string{` alice .* skipped +used since the plan`, ` bob .* already-done +the key was already inactive`, ` carol .* done`})

	// Undo reactivates only what the run deactivated.
	r = s.kw("undo", run, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo", r, ExitOK)
	before[carol] = awsemu.StatusActive
	s.checkStatuses("after undo", before, nil)
}

// TestApplyCommandOneAtATime: while an apply runs, another against the
// same state store is refused, naming the run that holds it.
func TestApplyCommandOneAtATime(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive)
	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	p := mustReadPlan(t, planFile)
	before := s.statuses()

	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	s.sb.SetFaults(awsemu.Fault{Operation: "UpdateAccessKey", Hold: hold})
	done := make(chan cmdResult, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"apply", planFile, "--auto-approve", "--config", s.config, "--state", s.state}, &stdout, &stderr)
		done <- cmdResult{err: err, code: ExitCode(err), stdout: stdout.String(), stderr: stderr.String()}
	}()
	waitForCalls(t, s.sb, "", "UpdateAccessKey", 1)

	r := s.apply(planFile)
	wantRefused(t, "a second apply meanwhile", r, "another keywarden apply is running", "held by run")
	release()
	first := <-done
	wantExit(t, "the first apply", first, ExitOK)
	if run := runIDOf(t, first.stdout); r.err != nil && !strings.Contains(r.err.Error(), run) {
		t.Errorf("refusal %q does not name the run holding the lock, %s", r.err, run)
	}
	s.checkStatuses("after both", before, p)
}

// waitForCalls waits until the sandbox has counted n calls of op (in
// account, or in any account when it is "").
func waitForCalls(t *testing.T, sb *awsemu.Sandbox, account, op string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := 0
		for _, c := range sb.Calls() {
			if c.Operation == op && (account == "" || c.Account == account) {
				got += c.Calls
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls of %s in %q after 20 s, want %d", got, op, account, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countCalls counts the calls of op in account.
func countCalls(sb *awsemu.Sandbox, account, op string) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Operation == op && c.Account == account {
			n += c.Calls
		}
	}
	return n
}

// TestApplyCommandTimePassing drives a key through its stages as the
// sandbox clock moves on: warned at 85 days, deactivated at 101, left alone
// at 106, its deletion withheld at 110 (9 days after the deactivation, the
// policy's delete delay being 110 - 100 = 10 days), deleted at 112.
//
// keywarden's "now" is the wall clock; the sandbox clock only dates what
// AWS reports. --as-of judges at the sandbox's date, and the journal dates
// the deactivation with the wall clock: the sandbox clock starts 16 days
// behind, so that it reaches the wall clock on the day of the deactivation
// (a deactivation applied with the sandbox clock ahead would be dated
// days earlier than the simulation has it, and its delete delay would run
// out early).
func TestApplyCommandTimePassing(t *testing.T) {
	clock := awsemu.NewClock()
	clock.Set(time.Now().Add(-16 * day))
	s := newRemSandbox(t, 1, clock)
	key := s.addKey(s.members[0], "alice", 85*day, 10*day, awsemu.StatusActive).AccessKeyID
	step := 0
	planAt := func() (*remediate.Plan, cmdResult) {
		t.Helper()
		step++
		f := s.path(fmt.Sprintf("plan%d.json", step))
		r := s.plan(f, "--as-of", clock.Now().Format(time.RFC3339))
		wantExit(t, fmt.Sprintf("plan %d", step), r, ExitOK)
		return mustReadPlan(t, f), r
	}
	check := func(p *remediate.Plan, wantAction, wantGuard string) {
		t.Helper()
		actions, withheld := outlineOf(p)
		if actions[key] != wantAction || withheld[key] != wantGuard {
			t.Errorf("plan as of %s: action %q, withheld by %q; want %q, %q\nactions %+v\nwithheld %+v",
				p.AsOf.Format(time.DateOnly), actions[key], withheld[key], wantAction, wantGuard, p.Actions, p.Withheld)
		}
	}

	p, r := planAt() // 85 days
	check(p, remediate.Notify, "")
	matchLines(t, r.stdout, []string{`^Plan: 0 to deactivate, 0 to delete, 1 warning\.`})

	clock.Advance(16 * day) // 101 days
	p, _ = planAt()
	check(p, remediate.Deactivate, "")
	wall := time.Now()
	// Simulated time runs ahead of the wall clock: these plans are forecasts.
	wantExit(t, "apply the deactivation", s.apply(s.path("plan2.json"), "--unsafe-allow-forecast"), ExitOK)
	if st, _ := s.sb.AccessKey(key); st.Status != awsemu.StatusInactive {
		t.Fatalf("after the apply the key is %s, want Inactive", st.Status)
	}
	// The journal dates the deactivation by the wall clock. The sandbox
	// clock, a moment behind it (the plan's --as-of is to the second), is
	// set to it, so that the days counted below are exact.
	st, err := sqlite.Open(t.Context(), s.state)
	if err != nil {
		t.Fatal(err)
	}
	deactivated, ok, err := st.DeactivatedAt(t.Context(), s.members[0], key)
	st.Close()
	if err != nil || !ok || deactivated.Before(wall) || deactivated.After(time.Now()) {
		t.Fatalf("journal: deactivated at %v (%v, %v), want a wall-clock time during the apply", deactivated, ok, err)
	}
	clock.Set(deactivated.Add(time.Minute))

	clock.Advance(5 * day) // 106 days: the delete stage is not due
	p, _ = planAt()
	check(p, "", "")

	clock.Advance(4 * day) // 110 days, deactivated 9 days ago
	p, _ = planAt()
	check(p, "", remediate.GuardDeleteDelay)
	for _, w := range p.Withheld {
		if w.AccessKeyID == key && (w.Type != remediate.Delete || !strings.Contains(w.Reason, "deactivated 9d ago; deletion waits 10d after deactivation")) {
			t.Errorf("withheld %+v, want the deletion waiting 10d after a deactivation 9d ago", w)
		}
	}

	clock.Advance(2 * day) // 112 days, deactivated 11 days ago
	p, _ = planAt()
	check(p, remediate.Delete, "")
	r = s.apply(s.path("plan5.json"), "--unsafe-allow-forecast")
	wantExit(t, "apply the deletion", r, ExitOK)
	if st, ok := s.sb.AccessKey(key); ok {
		t.Errorf("after the deletion the key is still there: %+v", st)
	}
	matchLines(t, r.stdout, []string{`delete +\d+ alice ` + key + `: done$`})
}

// TestApplyCommandMoto: plan, apply, a second apply and undo against an
// organization built in moto. moto cannot date keys in the past: the plan
// judges 120 days ahead with a policy that deactivates at 100.
func TestApplyCommandMoto(t *testing.T) {
	m := newMotoCommandOrg(t)
	admin, keys, config, state, planFile := m.admin, m.keys, m.config, m.state, m.planFile
	writeFile(t, config, "version: 1\nrules:\n  max_age: {deactivate: 100d}\n  unused: {enabled: false}\n  unused_initial: {enabled: false}\n"+
		"safety:\n  max_account_fraction: 1\n")
	asOf := time.Now().UTC().Add(120 * day).Format(time.RFC3339)

	statuses := func() map[string]string {
		out := map[string]string{}
		for account, users := range keys {
			c := iam.NewFromConfig(m.configFor(account))
			for user := range users {
				page, err := c.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
				if err != nil {
					t.Fatalf("list keys of %s in %s: %v", user, account, err)
				}
				for _, k := range page.AccessKeyMetadata {
					out[aws.ToString(k.AccessKeyId)] = string(k.Status)
				}
			}
		}
		return out
	}
	before := statuses()
	want := map[string]string{}
	wantActions := map[string]string{}
	for id, st := range before {
		want[id] = st
		if st == awsemu.StatusActive && id != aws.ToString(admin.AccessKeyId) {
			want[id] = awsemu.StatusInactive
			wantActions[id] = remediate.Deactivate
		}
	}

	r := runKeywarden(t, "plan", "--org", "--as-of", asOf, "--config", config, "--state", state, "--out", planFile)
	wantExit(t, "plan", r, ExitOK)
	p := mustReadPlan(t, planFile)
	actions, withheld := outlineOf(p)
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("plan actions (-want +got):\n%s", diff)
	}
	if withheld[aws.ToString(admin.AccessKeyId)] != remediate.GuardSelfKey {
		t.Errorf("withheld %v, want the admin's own key withheld", withheld)
	}

	r = runKeywarden(t, "apply", planFile, "--auto-approve", "--unsafe-allow-forecast", "--config", config, "--state", state)
	wantExit(t, "apply", r, ExitOK)
	run := runIDOf(t, r.stdout)
	if diff := cmp.Diff(want, statuses()); diff != "" {
		t.Errorf("after apply, key states in moto (-want +got):\n%s", diff)
	}

	r = runKeywarden(t, "apply", planFile, "--auto-approve", "--unsafe-allow-forecast", "--config", config, "--state", state)
	wantRefused(t, "second apply", r, "already been applied")

	r = runKeywarden(t, "undo", run, "--auto-approve", "--config", config, "--state", state)
	wantExit(t, "undo", r, ExitOK)
	if diff := cmp.Diff(before, statuses()); diff != "" {
		t.Errorf("after undo, key states in moto (-want +got):\n%s", diff)
	}
}
