package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/permissions"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// The spoke-roles template deployed through moto's CloudFormation into
// member accounts, then moto's IAM access control turned on, so that every
// call of the hub and of the roles is authorized by the policies the
// template made (docs/deploy.md says what moto does and does not check).

const motoExternalID = "ext-deploy-test"

// deployment is one moto organization with the spoke template deployed.
type deployment struct {
	t       *testing.T
	srv     *moto.Server
	members []string
	hubKey  aws.Credentials
	st      store.Store
}

// deployOptions say how the spokes and the hub are set up.
type deployOptions struct {
	act    bool   // the spokes' act role (EnableAct) and the hub's right to assume it
	remove string // an IAM action removed from the template before it is deployed
}

func motoConfig(t *testing.T, url string, creds aws.CredentialsProvider, rec *permissions.Recorder) aws.Config {
	t.Helper()
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: "us-east-1", Endpoint: url, Credentials: creds,
		MaxAttempts: 2, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rec != nil {
		cfg.APIOptions = append(cfg.APIOptions, rec.Option(awsx.RoleHub))
	}
	return cfg
}

// setAuth turns moto's IAM access control on (after 0 more requests) or
// off (never).
func setAuth(t *testing.T, srv *moto.Server, on bool) {
	t.Helper()
	count := "inf"
	if on {
		count = "0"
	}
	resp, err := http.Post(srv.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader(count))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto reset-auth: HTTP %d", resp.StatusCode)
	}
}

// spokeTemplate is deploy/cloudformation/spoke-roles.yaml as moto can
// enforce it: moto compares a statement's Resource only for IAM roles and
// S3, and with "*" for every other call, so the scoped resources become
// "*" (their scoping is checked by reading the template, not here).
func spokeTemplate(t *testing.T, remove string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "deploy", "cloudformation", "spoke-roles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := regexp.MustCompile(`(?m)^(\s+Resource:) !Sub .*$`).ReplaceAllString(string(src), `$1 "*"`)
	if remove != "" {
		line := regexp.MustCompile(`(?m)^\s+- ` + regexp.QuoteMeta(remove) + `\n`)
		if !line.MatchString(out) {
			t.Fatalf("the template has no action %s to remove", remove)
		}
		out = line.ReplaceAllString(out, "")
	}
	return out
}

// newDeployment makes an organization with two member accounts, deploys
// the spoke template in each through CloudFormation, gives each member
// users with keys, makes the hub user with the hub's policy, and turns
// moto's access control on.
func newDeployment(t *testing.T, srv *moto.Server, opts deployOptions) *deployment {
	t.Helper()
	srv.Reset(t)
	setAuth(t, srv, false)
	t.Cleanup(func() { setAuth(t, srv, false) })
	ctx := t.Context()
	d := &deployment{t: t, srv: srv}
	admin := motoConfig(t, srv.URL, credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "moto-setup", ""), nil)
	orgc := organizations.NewFromConfig(admin)
	org, err := orgc.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatal(err)
	}
	mgmt := aws.ToString(org.Organization.MasterAccountId)
	template := spokeTemplate(t, opts.remove)
	for i := range 2 {
		id, err := moto.CreateAccount(ctx, orgc, fmt.Sprintf("member-%d", i+1), fmt.Sprintf("member-%d@example.com", i+1))
		if err != nil {
			t.Fatal(err)
		}
		d.members = append(d.members, id)
		as, err := sts.NewFromConfig(admin).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::" + id + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("setup")})
		if err != nil {
			t.Fatal(err)
		}
		c := as.Credentials
		member := motoConfig(t, srv.URL, credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)), nil)
		param := func(k, v string) cfntypes.Parameter {
			return cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)}
		}
		cfn := cloudformation.NewFromConfig(member)
		if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName: aws.String("keywarden-spoke"), TemplateBody: aws.String(template),
			Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
			Parameters: []cfntypes.Parameter{param("HubAccountId", mgmt), param("OrganizationId", aws.ToString(org.Organization.Id)),
				param("ExternalId", motoExternalID), param("EnableAct", fmt.Sprint(opts.act)), param("EnableRotation", "true"),
				param("EnableSecurityHub", "true")},
		}); err != nil {
			t.Fatalf("deploy the spoke template in %s: %v", id, err)
		}
		st, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("keywarden-spoke")})
		if err != nil || len(st.Stacks) != 1 || st.Stacks[0].StackStatus != cfntypes.StackStatusCreateComplete {
			t.Fatalf("spoke stack in %s: %+v, %v", id, st, err)
		}
		ic := iam.NewFromConfig(member)
		users := []string{"alice", "carol"}
		if i == 0 {
			// dave's two active keys are a finding today, for Security Hub.
			users = append(users, "dave", "dave")
		}
		for j, user := range users {
			if j == 0 || users[j-1] != user {
				if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The hub: a user with the hub role's statements for the spokes and
	// the organization (the deploy templates' AssumeSpokeRoles and
	// Organization).
	roles := []string{"arn:aws:iam::*:role/KeywardenSpoke"}
	if opts.act {
		roles = append(roles, "arn:aws:iam::*:role/KeywardenSpokeAct")
	}
	orgGroup, _ := permissions.Find(permissions.Organization)
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": roles},
		map[string]any{"Effect": "Allow", "Action": permissions.Actions(orgGroup), "Resource": "*"},
	}})
	ic := iam.NewFromConfig(admin)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("keywarden-hub")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("keywarden-hub"), PolicyName: aws.String("keywarden-hub"),
		PolicyDocument: aws.String(string(doc))}); err != nil {
		t.Fatal(err)
	}
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("keywarden-hub")})
	if err != nil {
		t.Fatal(err)
	}
	d.hubKey = aws.Credentials{AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(key.AccessKey.SecretAccessKey)}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d.st = st
	setAuth(t, srv, true)
	return d
}

// engine is a run as the hub user, every call recorded.
func (d *deployment) engine(command string, rec *permissions.Recorder) *engine.Engine {
	d.t.Helper()
	cfg := motoConfig(d.t, d.srv.URL, credentials.NewStaticCredentialsProvider(d.hubKey.AccessKeyID, d.hubKey.SecretAccessKey, ""), rec)
	hub, err := awsx.NewHub(d.t.Context(), cfg, awsx.HubOptions{Command: command, RoleName: "KeywardenSpoke", ActRoleName: "KeywardenSpokeAct",
		ExternalID: motoExternalID, Instrument: rec.Instrument})
	if err != nil {
		d.t.Fatal(err)
	}
	return &engine.Engine{Hub: hub, Policy: mustPolicy(d.t, deployPolicy), Store: d.st}
}

// deployPolicy rotates keys at 90 days and deactivates them at 120, the
// rotated ones too (the new key never used: on_deadline); a user's two
// active keys are a finding, but dave is left alone.
const deployPolicy = `version: 1
rules:
  max_age: {severity: medium, warn: 80d, rotate: 90d, deactivate: 120d}
  unused: {enabled: false}
  unused_initial: {enabled: false}
safety:
  protected_users: ["dave"]
  max_actions: 50
  max_account_fraction: 1.0
rotation:
  enabled: true
  on_deadline: deactivate
`

// run scans (both sources), exports to Security Hub, then plans and applies as if 95 days had
// passed (rotation) and 125 days (deactivation), then undoes the last
// apply: what each action came to, and the first error.
func (d *deployment) run(rec *permissions.Recorder) (done map[string]int, results []remediate.ActionResult, err error) {
	ctx := d.t.Context()
	read := engine.Read{Selection: inventory.Selection{Accounts: d.members}, Parallel: 2, AccountTimeout: time.Minute}
	for _, src := range []inventory.Source{inventory.SourceReport, inventory.SourceAPI} {
		r := read
		r.Source = src
		res, err := d.engine("scan", rec).Scan(ctx, r)
		if err != nil {
			return nil, nil, err
		}
		if bad := res.Inventory.Incomplete(); len(bad) > 0 {
			return nil, nil, fmt.Errorf("scan (%s): %d accounts not read completely: %s %s", src, len(bad), bad[0].ErrorCode, bad[0].Error)
		}
		for _, a := range res.Inventory.Accounts {
			if a.Fallback != "" {
				return nil, nil, fmt.Errorf("scan (%s): account %s fell back to the API: %s", src, a.Account.ID, a.Fallback)
			}
		}
	}
	if _, err := d.engine("export", rec).ExportSecurityHub(ctx, engine.ExportRequest{Read: read, ProductVersion: "test"}); err != nil {
		return nil, nil, fmt.Errorf("export securityhub: %w", err)
	}
	done = map[string]int{}
	var last string
	for _, days := range []int{95, 125} {
		r := read
		r.AsOf = time.Now().Add(time.Duration(days) * day)
		planned, err := d.engine("plan", rec).Plan(ctx, r)
		if err != nil {
			return done, results, err
		}
		res, err := d.engine("apply", rec).Apply(ctx, engine.ApplyRequest{Plan: roundTrip(d.t, planned.Plan), Read: r, UnsafeAllowForecast: true})
		if err != nil {
			return done, results, err
		}
		for _, ar := range res.Outcome.Results {
			results = append(results, ar)
			if ar.Outcome == store.OutcomeDone {
				done[ar.Action.Type]++
			}
		}
		last = res.Outcome.RunID
	}
	undo, err := d.engine("undo", rec).Undo(ctx, engine.UndoRequest{RunID: last})
	if err != nil {
		return done, results, err
	}
	for _, ar := range undo.Results {
		results = append(results, ar)
		if ar.Outcome == store.OutcomeDone {
			done["reactivate"]++
		}
	}
	return done, results, nil
}

// TestDeployedRolesSuffice: with the template as shipped, scan, plan,
// apply (rotate, deactivate) and undo run through the deployed roles
// without one AccessDenied; with one action taken out of the template,
// the job that needs it is denied.
func TestDeployedRolesSuffice(t *testing.T) {
	srv := moto.Start(t)
	tests := []struct {
		name, remove string
	}{
		{"as shipped", ""},
		{"without iam:GetCredentialReport", "iam:GetCredentialReport"},
		{"without iam:UpdateAccessKey", "iam:UpdateAccessKey"},
		{"without secretsmanager:CreateSecret", "secretsmanager:CreateSecret"},
		{"without securityhub:BatchImportFindings", "securityhub:BatchImportFindings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment(t, srv, deployOptions{act: true, remove: tt.remove})
			rec := &permissions.Recorder{}
			done, results, err := d.run(rec)
			denied := rec.Denied()
			if tt.remove == "" {
				if err != nil || len(denied) > 0 {
					t.Fatalf("run: %v; denied: %v", err, denied)
				}
				for _, r := range results {
					if r.Outcome == store.OutcomeFailed {
						t.Errorf("%s %s %s failed: %s", r.Action.Type, r.Action.AccountID, r.Action.UserName, r.Detail)
					}
				}
				for _, kind := range []string{"rotate", "deactivate", "reactivate"} {
					if done[kind] == 0 {
						t.Errorf("done %v: want at least one %s", done, kind)
					}
				}
				// Every role called what the list has for it, and nothing else.
				for _, tt := range []struct {
					role   awsx.Role
					groups []string
				}{
					{awsx.RoleRead, []string{permissions.Scan, permissions.SecurityHub}},
					{awsx.RoleAct, []string{permissions.Act, permissions.Rotate}},
				} {
					var gs []permissions.Group
					for _, n := range tt.groups {
						g, _ := permissions.Find(n)
						gs = append(gs, g)
					}
					want := permissions.Operations(gs...)
					if tt.role == awsx.RoleAct {
						// Deletion and storing into an existing secret are
						// proven against the sandbox (TestOperationsArePermissionsList).
						want = slices.DeleteFunc(want, func(o permissions.Operation) bool {
							return o.Name == "DeleteAccessKey" || o.Name == "PutSecretValue" || o.Name == "TagResource"
						})
					}
					if diff := cmp.Diff(want, rec.Calls(tt.role)); diff != "" {
						t.Errorf("%s role: the list (-) and the calls (+) differ:\n%s", tt.role, diff)
					}
				}
				return
			}
			action := strings.SplitN(tt.remove, ":", 2)[1]
			if !strings.Contains(strings.Join(denied, "\n"), ":"+action+":") {
				t.Fatalf("with %s removed, no call of %s was denied (run: %v, done %v, denied %v)", tt.remove, action, err, done, denied)
			}
		})
	}
}

// TestReadOnlyDeploymentRefusesApply: a report-only installation (no act
// role, and the hub may not assume one) scans and plans, and apply is
// refused before anything changes, naming the role it lacks.
func TestReadOnlyDeploymentRefusesApply(t *testing.T) {
	srv := moto.Start(t)
	d := newDeployment(t, srv, deployOptions{act: false})
	rec := &permissions.Recorder{}
	_, results, err := d.run(rec)
	if !errors.Is(err, engine.ErrNoActRole) {
		t.Fatalf("run: %v, want the apply refused for want of the act role", err)
	}
	for _, want := range []string{"apply refused", ":role/KeywardenSpokeAct in account", "access denied", "--act-role-name", "docs/deploy.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(results) != 0 {
		t.Errorf("results %+v, want nothing done", results)
	}
	for _, c := range rec.Calls(awsx.RoleAct) {
		t.Errorf("act role call %s made although the apply was refused", c)
	}
	for _, den := range rec.Denied() {
		if !strings.Contains(den, "hub STS:AssumeRole") {
			t.Errorf("denied besides assuming the act role: %s", den)
		}
	}
}
