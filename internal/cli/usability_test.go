package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// What users hit at the edges of plan, apply and history, each through the
// whole command line against the sandbox.

// TestPlanOutStdout: --out - writes the plan's JSON to stdout, alone, and
// the summary to stderr.
func TestPlanOutStdout(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive)
	r := s.plan("-")
	wantExit(t, "plan --out -", r, ExitOK)
	p, err := remediate.ReadPlan(strings.NewReader(r.stdout), "stdout")
	if err != nil {
		t.Fatalf("stdout is not a plan: %v\n%s", err, r.stdout)
	}
	if len(p.Actions) != 1 || p.Actions[0].UserName != "alice" {
		t.Errorf("plan on stdout has %+v, want alice's deactivation", p.Actions)
	}
	if !strings.Contains(r.stderr, "Plan: 1 to deactivate") || strings.Contains(r.stderr, "Saved the plan to -") {
		t.Errorf("summary on stderr:\n%s", r.stderr)
	}
}

// TestOutputNeverReplacesDevices: /dev/null stays the device it is.
func TestOutputNeverReplacesDevices(t *testing.T) {
	before, err := os.Stat(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	s := newRemSandbox(t, 1, nil)
	s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive)
	wantExit(t, "plan --out /dev/null", s.plan(os.DevNull), ExitOK)
	wantExit(t, "scan --output /dev/null", s.kw("scan", "--org", "--config", s.config, "--output", os.DevNull), ExitOK)
	after, err := os.Stat(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode()&os.ModeCharDevice == 0 || !os.SameFile(before, after) {
		t.Fatalf("%s is now %v, want the same character device", os.DevNull, after.Mode())
	}
}

// TestOutputDirectoryCheckedFirst: an output in a directory that does not
// exist fails before anything is read.
func TestOutputDirectoryCheckedFirst(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	s.sb.ResetCalls()
	missing := filepath.Join(s.dir, "nope", "report.html")
	for _, args := range [][]string{
		{"scan", "--org", "--config", s.config, "--format", "html", "--output", missing},
		{"plan", "--org", "--config", s.config, "--state", s.state, "--out", missing},
	} {
		r := s.kw(args...)
		wantExit(t, args[0], r, ExitError)
		if !strings.Contains(r.err.Error(), "does not exist") || !strings.Contains(r.err.Error(), "nope") {
			t.Errorf("%s: %v, want the missing directory named", args[0], r.err)
		}
	}
	if calls := s.sb.Calls(); len(calls) != 0 {
		t.Errorf("AWS was called before the output was checked: %v", calls)
	}
}

// TestApplyWithoutChannelsSaysSo: with no notification channel, apply
// does not claim that warnings were delivered.
func TestApplyWithoutChannelsSaysSo(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	s.addKey(s.members[0], "dave", 85*day, 3*day, awsemu.StatusActive)
	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	r := s.apply(planFile)
	wantExit(t, "apply", r, ExitOK)
	if !strings.Contains(r.stdout, "no notification channel is configured") || strings.Contains(r.stdout, "delivered") {
		t.Errorf("apply without channels:\n%s", r.stdout)
	}
}

// TestConfirmationCtrlC: Ctrl-C at the apply and undo prompts ends the
// command with 130 and changes nothing.
func TestConfirmationCtrlC(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	k := s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	r := s.apply(planFile)
	wantExit(t, "apply", r, ExitOK)
	runID := runIDOf(t, r.stdout)
	if st, _ := s.sb.AccessKey(k); st.Status != awsemu.StatusInactive {
		t.Fatalf("alice's key is %s", st.Status)
	}
	s.addKey(s.members[0], "bob", 105*day, 20*day, awsemu.StatusActive)

	// A terminal nobody types on.
	pr, pw := io.Pipe()
	defer pw.Close()
	saved := confirmInput
	confirmInput = func(*cobra.Command) (io.Reader, bool) { return pr, true }
	defer func() { confirmInput = saved }()

	wantExit(t, "plan", s.plan(s.path("plan2.json")), ExitOK)
	for _, c := range []struct {
		args   []string
		prompt string
	}{
		{[]string{"apply", s.path("plan2.json"), "--config", s.config, "--state", s.state}, "type the plan's ID"},
		{[]string{"undo", runID, "--config", s.config, "--state", s.state}, "type the run ID"},
	} {
		args := c.args
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan cmdResult, 1)
		go func() {
			var out, errOut strings.Builder
			err := run(ctx, args, &out, &errOut)
			done <- cmdResult{err: err, code: ExitCode(err), stdout: out.String(), stderr: errOut.String()}
		}()
		time.Sleep(300 * time.Millisecond) // at the prompt
		cancel()
		select {
		case res := <-done:
			wantExit(t, args[0]+" interrupted at the prompt", res, ExitInterrupted)
			if !strings.Contains(res.stdout, c.prompt) {
				t.Errorf("%s did not reach its prompt:\n%s", args[0], res.stdout)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s ignored Ctrl-C at its prompt", args[0])
		}
	}
	if st, _ := s.sb.AccessKey(k); st.Status != awsemu.StatusInactive {
		t.Errorf("alice's key is %s after an undo interrupted at its prompt", st.Status)
	}
	for id, sk := range s.keys {
		if st, _ := s.sb.AccessKey(id); sk.user == "bob" && st.Status != awsemu.StatusActive {
			t.Errorf("bob's key is %s after an apply interrupted at its prompt", st.Status)
		}
	}
}

// TestHistoryJSON: history --format json lists runs and one run's actions
// for scripts.
func TestHistoryJSON(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive)
	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	r := s.apply(planFile)
	wantExit(t, "apply", r, ExitOK)
	runID := runIDOf(t, r.stdout)

	r = s.kw("history", "--state", s.state, "--format", "json")
	wantExit(t, "history --format json", r, ExitOK)
	var list struct {
		Runs []historyRun `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("history JSON: %v\n%s", err, r.stdout)
	}
	if len(list.Runs) != 1 || list.Runs[0].ID != runID || list.Runs[0].Outcomes["done"] != 1 || list.Runs[0].Status != "done" {
		t.Errorf("runs %+v", list.Runs)
	}

	r = s.kw("history", "--state", s.state, "--run", runID, "--format", "json")
	wantExit(t, "history --run --format json", r, ExitOK)
	var one historyRun
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil {
		t.Fatalf("history --run JSON: %v\n%s", err, r.stdout)
	}
	if len(one.Actions) != 1 || one.Actions[0].UserName != "alice" || one.Actions[0].Outcome != "done" || one.Actions[0].RequestID == "" {
		t.Errorf("actions %+v", one.Actions)
	}
}

// TestNoCredentials: without credentials, one message says what to run,
// and nothing of the SDK's own reaches stderr.
func TestNoCredentials(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", home)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // never ask an instance metadata service
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	config := filepath.Join(home, "config")
	writeFile(t, config, "[profile sso]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 111111111111\nsso_role_name = Admin\nregion = us-east-1\n")
	t.Setenv("AWS_CONFIG_FILE", config)
	tests := []struct {
		args []string
		says string
	}{
		{[]string{"scan"}, "run 'aws configure' or 'aws sso login'"},
		{[]string{"scan", "--profile", "sso"}, "the AWS SSO session is not logged in or has expired; run 'aws sso login'"},
		{[]string{"scan", "--profile", "nosuch"}, `the AWS profile "nosuch" is not in the shared config files`},
	}
	for _, tt := range tests {
		r := runKeywarden(t, tt.args...)
		if r.code != ExitError || !strings.Contains(r.err.Error(), "no usable AWS credentials") || !strings.Contains(r.err.Error(), tt.says) {
			t.Errorf("%v: exit %d, %v; want one message saying %q", tt.args, r.code, r.err, tt.says)
		}
		if r.stderr != "" || r.stdout != "" {
			t.Errorf("%v wrote more than the error:\nstdout %q\nstderr %q", tt.args, r.stdout, r.stderr)
		}
	}
}

// TestEveryAccountRefusesTheRole: when no account lets keywarden in, one
// message says what to check instead of a failure per account.
func TestEveryAccountRefusesTheRole(t *testing.T) {
	s := newRemSandbox(t, 2, nil)
	s.sb.SetFaults(awsemu.Fault{DenyAssumeRole: true})
	r := s.kw("scan", "--accounts", strings.Join(s.members, ","), "--config", s.config)
	wantExit(t, "scan", r, ExitError)
	for _, want := range []string{"could not assume", "in any of the 2 accounts", "--role-name", "--external-id", "trust policy"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error %q does not say %q", r.err, want)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
}

// TestDemoTable: the demo protects the sandbox's break-glass users, says
// what to try next, and keeps its plan within 100 columns.
func TestDemoTable(t *testing.T) {
	r := runKeywarden(t, "demo")
	wantExit(t, "demo", r, ExitOK)
	i := strings.Index(r.stdout, "What 'keywarden plan' would do")
	if i < 0 {
		t.Fatalf("no plan in the demo:\n%s", r.stdout)
	}
	plan := r.stdout[i:]
	for _, want := range []string{"break-glass-* are protected", "protected-user", "keywarden undo RUN_ID",
		"keywarden sandbox --seed 1 --accounts 4 --users-per-account 12 --env-file sandbox.env",
		`protected_users: ["break-glass-*"]`} {
		if !strings.Contains(plan, want) {
			t.Errorf("the demo's plan does not say %q:\n%s", want, plan)
		}
	}
	// The default organization's plan is over the limits: the next steps
	// plan only the accounts within them, which apply would accept.
	over := regexp.MustCompile(`(?m)^  account (\d{12}): `).FindAllStringSubmatch(plan, -1)
	next := regexp.MustCompile(`keywarden plan --accounts ([0-9,]+) --out plan.json`).FindStringSubmatch(plan)
	if len(over) == 0 || next == nil {
		t.Fatalf("want an account over the limits and a plan of the others; got:\n%s", plan)
	}
	for _, o := range over {
		if strings.Contains(next[1], o[1]) {
			t.Errorf("next steps plan account %s, which is over the limits", o[1])
		}
	}
	for _, line := range strings.Split(plan, "\n") {
		if n := len([]rune(line)); n > 100 && !strings.Contains(line, "safety.max_account_fraction") {
			t.Errorf("line of %d columns: %s", n, line)
		}
	}
}

// TestUndoLeavesChangedKeysAlone: a key keywarden deactivated, then
// reactivated, used and deactivated again by someone else (incident
// response disabling a leaked key), is not reactivated by undo unless
// asked for by key.
func TestUndoLeavesChangedKeysAlone(t *testing.T) {
	clock := awsemu.NewClock()
	s := newRemSandbox(t, 1, clock)
	a := s.members[0]
	leaked := s.addKey(a, "alice", 105*day, 20*day, awsemu.StatusActive)
	quiet := s.addKey(a, "bob", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	s.writePolicy(stagedPolicyYAML + "  max_account_fraction: 1\n")
	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	r := s.apply(planFile)
	wantExit(t, "apply", r, ExitOK)
	runID := runIDOf(t, r.stdout)

	// An hour later the key is reactivated, used, and disabled again.
	clock.Advance(time.Hour)
	op := s.memberIAM(a)
	setStatus := func(status string) {
		t.Helper()
		if _, err := op.UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"),
			AccessKeyId: aws.String(leaked.AccessKeyID), Status: iamtypes.StatusType(status)}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(awsemu.StatusActive)
	if _, err := sts.NewFromConfig(s.configFor(leaked)).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	setStatus(awsemu.StatusInactive)

	r = s.kw("undo", runID, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo", r, ExitOK)
	matchLines(t, r.stdout, []string{`^To reactivate \(1\):$`, ` bob ` + quiet + `$`,
		`^Changed since the run, left alone \(reactivate one with --key KEY_ID\):$`,
		` alice ` + leaked.AccessKeyID + `: used at .*, after keywarden deactivated it at `})
	if st, _ := s.sb.AccessKey(leaked.AccessKeyID); st.Status != awsemu.StatusInactive {
		t.Errorf("the key disabled since the run is %s after undo", st.Status)
	}
	if st, _ := s.sb.AccessKey(quiet); st.Status != awsemu.StatusActive {
		t.Errorf("bob's key is %s after undo", st.Status)
	}

	// Asked for by key, it is reactivated.
	r = s.kw("undo", runID, "--auto-approve", "--key", leaked.AccessKeyID, "--config", s.config, "--state", s.state)
	wantExit(t, "undo --key", r, ExitOK)
	if st, _ := s.sb.AccessKey(leaked.AccessKeyID); st.Status != awsemu.StatusActive {
		t.Errorf("the key asked for with --key is %s", st.Status)
	}
}

// TestSharedStateInDynamoDB: a state store in DynamoDB (moto), created with
// state init, holds the journal that plan, apply, history and undo share,
// while IAM is the sandbox's.
func TestSharedStateInDynamoDB(t *testing.T) {
	m := moto.Shared(t)
	s := newRemSandbox(t, 1, nil)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", m.URL)
	k := s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	state := "dynamodb://keywarden-cli-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))

	r := s.kw("history", "--state", state)
	wantExit(t, "history before state init", r, ExitError)
	if !strings.Contains(r.err.Error(), "keywarden state init") {
		t.Errorf("history of a table that does not exist: %v, want it to say to run state init", r.err)
	}
	wantExit(t, "state init", s.kw("state", "init", "--state", state), ExitOK)
	wantExit(t, "state init again", s.kw("state", "init", "--state", state), ExitOK)

	planFile := s.path("plan.json")
	wantExit(t, "plan", s.kw("plan", "--org", "--config", s.config, "--state", state, "--out", planFile), ExitOK)
	r = s.kw("apply", planFile, "--auto-approve", "--config", s.config, "--state", state)
	wantExit(t, "apply", r, ExitOK)
	runID := runIDOf(t, r.stdout)
	if st, _ := s.sb.AccessKey(k); st.Status != awsemu.StatusInactive {
		t.Fatalf("alice's key is %s after apply", st.Status)
	}
	r = s.kw("history", "--state", state, "--format", "json")
	wantExit(t, "history", r, ExitOK)
	if !strings.Contains(r.stdout, runID) {
		t.Errorf("history of the shared store does not list run %s:\n%s", runID, r.stdout)
	}
	wantExit(t, "undo", s.kw("undo", runID, "--auto-approve", "--config", s.config, "--state", state), ExitOK)
	if st, _ := s.sb.AccessKey(k); st.Status != awsemu.StatusActive {
		t.Errorf("alice's key is %s after undo", st.Status)
	}
}

// TestStateMigrate: an apply's journal in a SQLite file, copied into
// DynamoDB (moto) with state migrate and back into another file, is there
// for history and undo; a second copy is refused unless --merge, which
// then adds nothing; a source that does not exist is an error, never an
// empty copy.
func TestStateMigrate(t *testing.T) {
	m := moto.Shared(t)
	s := newRemSandbox(t, 1, nil)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", m.URL)
	k := s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive).AccessKeyID
	file := s.path("state.db")
	table := "dynamodb://keywarden-cli-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))

	planFile := s.path("plan.json")
	wantExit(t, "plan", s.kw("plan", "--org", "--config", s.config, "--state", file, "--out", planFile), ExitOK)
	r := s.kw("apply", planFile, "--auto-approve", "--config", s.config, "--state", file)
	wantExit(t, "apply", r, ExitOK)
	runID := runIDOf(t, r.stdout)

	wantExit(t, "state init", s.kw("state", "init", "--state", table), ExitOK)
	r = s.kw("state", "migrate", "--from", file, "--to", table)
	wantExit(t, "state migrate to DynamoDB", r, ExitOK)
	if !strings.Contains(r.stdout, "Copied 1 of 1 runs") {
		t.Errorf("state migrate said:\n%s\nwant it to count 1 run copied", r.stdout)
	}
	r = s.kw("history", "--state", table, "--format", "json")
	wantExit(t, "history of the table", r, ExitOK)
	if !strings.Contains(r.stdout, runID) {
		t.Errorf("history of the migrated store does not list run %s:\n%s", runID, r.stdout)
	}

	r = s.kw("state", "migrate", "--from", file, "--to", table)
	wantExit(t, "state migrate again", r, ExitError)
	if r.err == nil || !strings.Contains(r.err.Error(), "not empty") || !strings.Contains(r.err.Error(), "--merge") {
		t.Errorf("state migrate into a store holding state: %v, want it refused, naming --merge", r.err)
	}
	r = s.kw("state", "migrate", "--from", file, "--to", table, "--merge")
	wantExit(t, "state migrate --merge", r, ExitOK)
	if !strings.Contains(r.stdout, "Copied 0 of 1 runs") {
		t.Errorf("state migrate --merge of what is there said:\n%s\nwant nothing copied", r.stdout)
	}

	back := s.path("back.db")
	wantExit(t, "state migrate back", s.kw("state", "migrate", "--from", table, "--to", back), ExitOK)
	wantExit(t, "undo from the copy", s.kw("undo", runID, "--auto-approve", "--config", s.config, "--state", back), ExitOK)
	if st, _ := s.sb.AccessKey(k); st.Status != awsemu.StatusActive {
		t.Errorf("alice's key is %s after undo from the copied store", st.Status)
	}

	r = s.kw("state", "migrate", "--from", s.path("missing.db"), "--to", s.path("other.db"))
	wantExit(t, "state migrate from nothing", r, ExitError)
	if r.err == nil || !strings.Contains(r.err.Error(), "missing.db") {
		t.Errorf("state migrate from a file that is not there: %v, want it named", r.err)
	}
}
