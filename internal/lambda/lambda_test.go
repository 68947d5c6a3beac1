package lambda_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/lambda"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store/dynamo"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// The function as Lambda runs it: this test binary, started as "bootstrap"
// with AWS_LAMBDA_RUNTIME_API pointing at a fake of the Lambda Runtime API,
// AWS at the sandbox (IAM, STS, Organizations) and at moto (S3, SSM).

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"bootstrap": func() {
			if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
				fmt.Fprintln(os.Stderr, "bootstrap: AWS_LAMBDA_RUNTIME_API is not set")
				os.Exit(2)
			}
			lambda.Start("test")
		},
	})
}

// runtimeAPI is a fake of the Lambda Runtime API: it hands out queued
// events and collects the responses.
type runtimeAPI struct {
	*httptest.Server
	mu        sync.Mutex
	events    chan invocation
	responses map[string]chan result
}

type invocation struct {
	id       string
	body     string
	deadline time.Time
}

type result struct {
	body  string
	error bool
}

func newRuntimeAPI(t *testing.T) *runtimeAPI {
	r := &runtimeAPI{events: make(chan invocation, 4), responses: map[string]chan result{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path := strings.TrimPrefix(req.URL.Path, "/2018-06-01/runtime/")
		switch {
		case path == "invocation/next":
			var inv invocation
			select {
			case inv = <-r.events:
			case <-req.Context().Done():
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111111111111:function:keywarden")
			io.WriteString(w, inv.body)
		case strings.HasPrefix(path, "invocation/"):
			rest := strings.TrimPrefix(path, "invocation/")
			id, kind, _ := strings.Cut(rest, "/")
			body, _ := io.ReadAll(req.Body)
			r.mu.Lock()
			ch := r.responses[id]
			r.mu.Unlock()
			if ch != nil {
				ch <- result{body: string(body), error: kind == "error"}
			}
			w.WriteHeader(http.StatusAccepted)
		case path == "init/error":
			body, _ := io.ReadAll(req.Body)
			t.Errorf("the function failed to start: %s", body)
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// invoke hands the function an event and waits for its answer.
func (r *runtimeAPI) invoke(t *testing.T, id, event string, within time.Duration) result {
	t.Helper()
	ch := make(chan result, 1)
	r.mu.Lock()
	r.responses[id] = ch
	r.mu.Unlock()
	r.events <- invocation{id: id, body: event, deadline: time.Now().Add(within)}
	select {
	case res := <-ch:
		return res
	case <-time.After(90 * time.Second):
		t.Fatalf("no answer to invocation %s", id)
	}
	return result{}
}

const scheduledEvent = `{"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","account":"111111111111","time":"2026-12-03T06:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:111111111111:rule/keywarden"],"detail":{}}`

// enforcePolicy acts on keys past 100 days, within generous limits.
const enforcePolicy = `version: 1
accounts: {organization: true, role_name: KeywardenSpoke}
rules:
  max_age: {warn: 80d, deactivate: 100d, delete: 3650d}
  unused: {enabled: false}
  unused_initial: {enabled: false}
  multiple_active: {enabled: false}
safety:
  max_actions: 10000
  max_account_fraction: 1
  protected_users: ["break-glass-*"]
automation:
  mode: enforce
  reports_s3: s3://keywarden-reports/runs
`

type world struct {
	sb       *awsemu.Sandbox
	org      *orggen.Org
	sandbox  string
	hub      aws.Config // signs with the organization's admin key
	moto     *moto.Server
	function *exec.Cmd
	api      *runtimeAPI
	dir      string
	out      bytes.Buffer
}

func newWorld(t *testing.T, policyYAML string) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	sandbox := awstest.NewOrgSandbox(t, awsemu.Options{Seed: 21}, orggen.Options{Seed: 21, Accounts: 3, UsersPerAccount: 8, RoleName: "KeywardenSpoke"})
	w.sb, w.org, w.sandbox, w.hub = sandbox.Sandbox, sandbox.Org, sandbox.URL, sandbox.Hub
	w.moto = moto.Shared(t)

	// The policy in SSM, the report bucket in S3 (moto).
	cfg := w.motoConfig(t)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String("/keywarden/policy"),
		Value: aws.String(policyYAML), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("keywarden-reports")}); err != nil &&
		!strings.Contains(err.Error(), "BucketAlready") {
		t.Fatal(err)
	}

	// The state in DynamoDB (moto), as a deployed function keeps it.
	table := "keywarden-" + strings.ToLower(t.Name())
	if err := dynamo.CreateTable(t.Context(), cfg, table); err != nil {
		t.Fatal(err)
	}

	w.api = newRuntimeAPI(t)
	w.function = exec.Command("bootstrap")
	w.function.Env = append(os.Environ(),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(w.api.URL, "http://"),
		"AWS_ENDPOINT_URL="+w.sandbox, "AWS_ENDPOINT_URL_S3="+w.moto.URL, "AWS_ENDPOINT_URL_SSM="+w.moto.URL, "AWS_ENDPOINT_URL_DYNAMODB="+w.moto.URL,
		"AWS_ACCESS_KEY_ID="+w.org.AdminKey.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+w.org.AdminKey.SecretAccessKey,
		"AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_REGION=us-east-1", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_S3_USE_PATH_STYLE=true",
		"KEYWARDEN_CONFIG=ssm:/keywarden/policy", "KEYWARDEN_STATE=dynamodb://"+table, "LAMBDA_TASK_ROOT="+w.dir,
	)
	w.function.Stdout, w.function.Stderr = &w.out, &w.out
	if err := w.function.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.function.Process.Kill()
		w.function.Wait()
		if t.Failed() {
			t.Logf("the function wrote:\n%s", w.out.String())
		}
	})
	return w
}

func (w *world) motoConfig(t *testing.T) aws.Config {
	return awstest.Config(t, w.moto.URL, "testing", "testing")
}

// expectedPlan is what the policy asks now, planned in this process
// against the same sandbox.
func (w *world) expectedPlan(t *testing.T, policyYAML string) *remediate.Plan {
	t.Helper()
	pol, err := policy.Parse("keywarden.yaml", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	hub, err := awsx.NewHub(t.Context(), w.hub, awsx.HubOptions{Command: "plan", RoleName: "KeywardenSpoke"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&engine.Engine{Hub: hub, Policy: pol}).Plan(t.Context(), engine.Read{Selection: inventory.Selection{Organization: true}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Plan
}

func summaryOf(t *testing.T, r result) lambda.Summary {
	t.Helper()
	if r.error {
		t.Fatalf("the invocation failed: %s", r.body)
	}
	var s lambda.Summary
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("the response is not a summary: %v\n%s", err, r.body)
	}
	return s
}

// deactivations are the plan's deactivate actions.
func deactivations(p *remediate.Plan) []remediate.Action {
	var out []remediate.Action
	for _, a := range p.Actions {
		if a.Type == remediate.Deactivate {
			out = append(out, a)
		}
	}
	return out
}

// TestScheduledEnforce: a scheduled event in enforce mode changes the keys
// exactly as the plan says, writes the reports to S3, logs one summary;
// a second event repeats nothing; a deadline too short stops before any
// action, and the next invocation finishes the work.
func TestScheduledEnforce(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	want := w.expectedPlan(t, enforcePolicy)
	deactivate := deactivations(want)
	if len(deactivate) == 0 || want.Limits.Exceeded {
		t.Fatalf("the generated organization gives nothing to enforce: %d actions, limits %+v", len(want.Actions), want.Limits)
	}

	// A deadline too short: the scan runs, no action starts.
	s := summaryOf(t, w.api.invoke(t, "short", scheduledEvent, 3*time.Second))
	if s.Status != "stopped" || s.Actions["done"] != 0 || s.Trigger != "schedule" || s.Mode != policy.ModeEnforce {
		t.Errorf("short invocation: %+v, want stopped before any action", s)
	}
	for _, a := range deactivate {
		if st, _ := w.sb.AccessKey(a.AccessKeyID); st.Status != awsemu.StatusActive {
			t.Fatalf("key %s changed by the invocation that had no time", a.AccessKeyID)
		}
	}

	s = summaryOf(t, w.api.invoke(t, "first", scheduledEvent, 5*time.Minute))
	if s.Status != "ok" || s.Planned[remediate.Deactivate] != len(deactivate) || s.Actions["done"] < len(deactivate) {
		t.Errorf("first run: %+v, want the plan's %d deactivations done", s, len(deactivate))
	}
	for _, a := range deactivate {
		if st, _ := w.sb.AccessKey(a.AccessKeyID); st.Status != awsemu.StatusInactive {
			t.Errorf("key %s of %s is %s, want Inactive as planned", a.AccessKeyID, a.UserName, st.Status)
		}
	}
	if len(s.Reports) != 2 || !strings.HasPrefix(s.Reports[0], "s3://keywarden-reports/runs/"+s.RunID+"/") {
		t.Errorf("reports %v", s.Reports)
	}
	obj, err := s3.NewFromConfig(w.motoConfig(t)).GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("keywarden-reports"),
		Key: aws.String("runs/" + s.RunID + "/keywarden.json")})
	if err != nil {
		t.Fatalf("the JSON report is not in S3: %v", err)
	}
	obj.Body.Close()
	if !strings.Contains(w.out.String(), `"msg":"summary"`) {
		t.Errorf("no summary record in the logs:\n%s", w.out.String())
	}

	calls := countCalls(w.sb, "UpdateAccessKey")
	s = summaryOf(t, w.api.invoke(t, "second", scheduledEvent, 5*time.Minute))
	// Warnings are journaled each run (and not re-sent within
	// renotify_after); no key is changed twice.
	if s.Planned[remediate.Deactivate] != 0 || s.Actions["done"] != s.Planned[remediate.Notify] {
		t.Errorf("second run: %+v, want no key changed again", s)
	}
	if n := countCalls(w.sb, "UpdateAccessKey"); n != calls {
		t.Errorf("the second run made %d UpdateAccessKey calls", n-calls)
	}
	if strings.Contains(w.out.String(), w.org.AdminKey.SecretAccessKey) {
		t.Error("the hub's secret key is in the function's output")
	}
}

// TestManualReportOnly: a manual invocation may ask for a report-only
// run, never for more than the policy allows.
func TestManualReportOnly(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	before := countCalls(w.sb, "UpdateAccessKey")
	s := summaryOf(t, w.api.invoke(t, "manual", `{"mode":"report"}`, 5*time.Minute))
	if s.Mode != policy.ModeReport || s.Trigger != "manual" || s.Findings == 0 || s.Actions["done"] != s.Planned[remediate.Notify] && s.Planned[remediate.Notify] > 0 {
		t.Errorf("manual report: %+v", s)
	}
	if n := countCalls(w.sb, "UpdateAccessKey"); n != before {
		t.Errorf("a report-only run changed %d keys", n-before)
	}
	// The run's snapshot is in the state store, with its findings.
	st, err := dynamo.Open(t.Context(), w.motoConfig(t), "keywarden-"+strings.ToLower(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := st.GetSnapshot(t.Context(), s.RunID)
	if err != nil {
		t.Fatalf("the run's snapshot: %v", err)
	}
	notExempt := 0
	for _, f := range snap.Findings {
		if !f.Exempt {
			notExempt++
		}
	}
	if snap.Trigger != "manual" || snap.Mode != policy.ModeReport || len(snap.Accounts) != s.Accounts || notExempt != s.Findings {
		t.Errorf("snapshot: trigger %s, mode %s, %d accounts, %d findings; want manual, report, %d, %d",
			snap.Trigger, snap.Mode, len(snap.Accounts), notExempt, s.Accounts, s.Findings)
	}
	r := w.api.invoke(t, "escalate", `{"mode":"enforce"}`, 5*time.Minute)
	if !r.error || !strings.Contains(r.body, "may ask only for") {
		t.Errorf("an invocation asking for enforce: %s, want it refused", r.body)
	}
}

func countCalls(sb *awsemu.Sandbox, op string) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Operation == op {
			n += c.Calls
		}
	}
	return n
}

// TestDeadlineMidApply: invocations whose deadline comes in the middle of
// an apply stop starting actions, and the next ones finish the work: every
// key planned is deactivated, each by one call, none twice.
func TestDeadlineMidApply(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	want := w.expectedPlan(t, enforcePolicy)
	deactivate := deactivations(want)
	if len(deactivate) < 3 {
		t.Fatalf("the generated organization gives %d deactivations, want at least 3", len(deactivate))
	}
	// An action starts only while 30 s (its budget) are left before the
	// apply's deadline, which keeps a fifth of the invocation's time in
	// reserve: an invocation of 44 s starts actions for about 5 s, and each
	// deactivation takes 2 s, so it cannot do them all.
	w.sb.SetFaults(awsemu.Fault{Operation: "UpdateAccessKey", Latency: 2 * time.Second})

	cutShort := false
	for i := 0; ; i++ {
		if i == 2*len(deactivate) {
			t.Fatalf("after %d invocations the work is not finished", i)
		}
		s := summaryOf(t, w.api.invoke(t, fmt.Sprintf("run-%d", i), scheduledEvent, 44*time.Second))
		if s.Actions["failed"] != 0 {
			t.Fatalf("invocation %d: %+v, want no failed action", i, s)
		}
		if s.Status == "stopped" && s.Actions["done"] > 0 && s.Planned[remediate.Deactivate] > 1 {
			cutShort = true
		}
		if s.Status == "ok" {
			break
		}
		if s.Status != "stopped" {
			t.Fatalf("invocation %d: status %q, want stopped or ok", i, s.Status)
		}
	}
	if !cutShort {
		t.Error("no invocation was cut short in the middle of its apply")
	}
	for _, a := range deactivate {
		if st, _ := w.sb.AccessKey(a.AccessKeyID); st.Status != awsemu.StatusInactive {
			t.Errorf("key %s of %s is %s, want Inactive", a.AccessKeyID, a.UserName, st.Status)
		}
	}
	if n := countCalls(w.sb, "UpdateAccessKey"); n != len(deactivate) {
		t.Errorf("%d UpdateAccessKey calls for %d deactivations: an action was repeated", n, len(deactivate))
	}
}

// TestHubViaRoleValue: a value of KEYWARDEN_HUB_VIA_ROLE other than true or
// false is refused, naming it, before anything is read; it is not taken
// for false, which would act with the function's own role.
func TestHubViaRoleValue(t *testing.T) {
	env := map[string]string{lambda.EnvHubViaRole: "TRUE", lambda.EnvState: "dynamodb://keywarden-state"}
	_, err := lambda.Handle(t.Context(), lambda.Options{Getenv: func(k string) string { return env[k] }, AWS: nowhere}, json.RawMessage(scheduledEvent))
	if err == nil || !strings.Contains(err.Error(), lambda.EnvHubViaRole) || !strings.Contains(err.Error(), `"TRUE"`) {
		t.Errorf("%s=TRUE: %v, want it refused, naming the variable and its value", lambda.EnvHubViaRole, err)
	}
}

// TestBadInvocationReadsNothing: an event asking for enforce, or a
// function without KEYWARDEN_STATE, is refused before the policy is read.
func TestBadInvocationReadsNothing(t *testing.T) {
	for _, c := range []struct {
		name, event, state, want string
	}{
		{"enforce asked", `{"mode":"enforce"}`, "dynamodb://keywarden-state", "may ask only for"},
		{"no state", scheduledEvent, "", lambda.EnvState + " is not set"},
	} {
		env := map[string]string{lambda.EnvConfig: "s3://keywarden-nowhere/keywarden.yaml", lambda.EnvState: c.state}
		_, err := lambda.Handle(t.Context(), lambda.Options{Getenv: func(k string) string { return env[k] }, AWS: nowhere}, json.RawMessage(c.event))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q before the policy is read", c.name, err, c.want)
		}
	}
}

// nowhere sends any AWS call to a closed port: the tests above expect none.
var nowhere = awsx.Options{Endpoint: "http://127.0.0.1:1", MaxAttempts: 1, Credentials: aws.AnonymousCredentials{}}
