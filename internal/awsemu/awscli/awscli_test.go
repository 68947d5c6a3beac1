// Package awscli drives the sandbox (internal/awsemu) with the real AWS CLI,
// through AWS_ENDPOINT_URL, to show that a client other than the Go SDK
// (botocore) reads what the sandbox writes.
//
// Run: go test ./internal/awsemu/awscli/ (needs `aws` on PATH; skipped
// without it unless KEYWARDEN_REQUIRE_AWSCLI=1).
package awscli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

const (
	spokeRole  = "KeywardenSpoke"
	externalID = "keywarden-cli-5d1e"
)

// cli runs the AWS CLI against one sandbox with one set of credentials.
type cli struct {
	t        *testing.T
	aws      string // path of the aws executable
	endpoint string
	creds    []string // AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…, maybe AWS_SESSION_TOKEN=…
}

// on returns c reporting to t (for subtests).
func (c cli) on(t *testing.T) cli {
	c.t = t
	return c
}

func (c cli) with(id, secret, token string) cli {
	c.creds = []string{"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret}
	if token != "" {
		c.creds = append(c.creds, "AWS_SESSION_TOKEN="+token)
	}
	return c
}

// env is the test's environment without any AWS_ setting, plus the
// endpoint, the credentials and settings that keep the CLI away from the
// user's files, pager and retries.
func (c cli) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AWS_ENDPOINT_URL="+c.endpoint,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	return append(env, c.creds...)
}

// exec runs `aws <args> --output json` and returns stdout, stderr and the
// exit code.
func (c cli) exec(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.aws, append(args, "--output", "json")...)
	cmd.Env = c.env()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), errOut.String(), ee.ExitCode()
		}
		c.t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}

// run runs a command that must succeed and decodes its JSON output into v
// (unless v is nil).
func (c cli) run(v any, args ...string) {
	c.t.Helper()
	stdout, stderr, code := c.exec(args...)
	if code != 0 {
		c.t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		c.t.Fatalf("aws %s: decode output: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// world is the sandbox the test drives: a management account with an
// admin user, two seeded users and an organization with one member that
// has KeywardenSpoke and a user of its own.
type world struct {
	sb     *awsemu.Sandbox
	url    string
	mgmt   string
	member string
	admin  awsemu.Key
}

func newWorld(t *testing.T) world {
	t.Helper()
	sb := awsemu.New(awsemu.Options{Seed: 7})
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mgmt, err := sb.AddAccount(awsemu.AccountSpec{Name: "management", Email: "root@example.com"})
	check(err)
	member, err := sb.AddAccount(awsemu.AccountSpec{Name: "dev", Email: "dev@example.com"})
	check(err)
	for _, u := range []string{"admin", "seed-a", "seed-b", "seed-c"} {
		check(sb.AddUser(awsemu.UserSpec{Account: mgmt, Name: u}))
	}
	admin, err := sb.AddAccessKey(awsemu.KeySpec{Account: mgmt, User: "admin"})
	check(err)
	root, err := sb.CreateOrganization(mgmt)
	check(err)
	ou, err := sb.AddOU(root, "Workloads")
	check(err)
	check(sb.JoinOrganization(member, ou, time.Time{}))
	check(sb.AddRole(awsemu.RoleSpec{Account: member, Name: spokeRole, TrustedAccounts: []string{mgmt}, ExternalID: externalID}))
	check(sb.AddUser(awsemu.UserSpec{Account: member, Name: "dev-only"}))

	srv := httptest.NewServer(sb) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return world{sb: sb, url: srv.URL, mgmt: mgmt, member: member, admin: admin}
}

func TestAWSCLI(t *testing.T) {
	awsPath := moto.RequireAWSCLI(t)
	w := newWorld(t)
	admin := cli{t: t, aws: awsPath, endpoint: w.url}.with(w.admin.AccessKeyID, w.admin.SecretAccessKey, "")

	var ident struct{ UserId, Account, Arn string }
	admin.run(&ident, "sts", "get-caller-identity")
	if ident.Account != w.mgmt || ident.Arn != "arn:aws:iam::"+w.mgmt+":user/admin" {
		t.Errorf("sts get-caller-identity: %+v, want account %s user/admin", ident, w.mgmt)
	}

	var created struct {
		User struct{ UserName, Path, Arn string }
	}
	admin.run(&created, "iam", "create-user", "--user-name", "cli-user", "--path", "/cli/")
	if created.User.Arn != "arn:aws:iam::"+w.mgmt+":user/cli/cli-user" {
		t.Errorf("iam create-user: %+v", created.User)
	}

	// Pagination: the CLI follows Marker with --page-size; --max-items
	// hands out a NextToken to resume from.
	want := []string{"admin", "cli-user", "seed-a", "seed-b", "seed-c"}
	type userPage struct {
		Users     []struct{ UserName string }
		NextToken string
	}
	names := func(p userPage) []string {
		var n []string
		for _, u := range p.Users {
			n = append(n, u.UserName)
		}
		return n
	}
	w.sb.ResetCalls()
	var all userPage
	admin.run(&all, "iam", "list-users", "--page-size", "2")
	if got := names(all); !cmp.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("iam list-users --page-size 2: %v, want each of %v once", got, want)
	}
	if n := calls(w.sb, w.mgmt, "ListUsers"); n != 3 {
		t.Errorf("iam list-users --page-size 2 over 5 users: %d ListUsers calls, want 3", n)
	}
	var first, rest userPage
	admin.run(&first, "iam", "list-users", "--max-items", "2")
	if len(first.Users) != 2 || first.NextToken == "" {
		t.Fatalf("iam list-users --max-items 2: %d users, NextToken %q; want 2 and a token", len(first.Users), first.NextToken)
	}
	admin.run(&rest, "iam", "list-users", "--max-items", "10", "--starting-token", first.NextToken)
	if got := append(names(first), names(rest)...); !cmp.Equal(slices.Sorted(slices.Values(got)), want) || rest.NextToken != "" {
		t.Errorf("iam list-users in two runs: %v (NextToken %q), want each of %v once", got, rest.NextToken, want)
	}

	var key struct {
		AccessKey struct{ UserName, AccessKeyId, Status, SecretAccessKey string }
	}
	admin.run(&key, "iam", "create-access-key", "--user-name", "cli-user")
	k := key.AccessKey
	if !strings.HasPrefix(k.AccessKeyId, "AKIA") || len(k.SecretAccessKey) != 40 || k.Status != "Active" {
		t.Fatalf("iam create-access-key: %+v", k)
	}
	var keys struct {
		AccessKeyMetadata []struct{ UserName, AccessKeyId, Status, CreateDate string }
	}
	admin.run(&keys, "iam", "list-access-keys", "--user-name", "cli-user")
	if len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].AccessKeyId != k.AccessKeyId || keys.AccessKeyMetadata[0].Status != "Active" {
		t.Errorf("iam list-access-keys: %+v", keys.AccessKeyMetadata)
	}

	type lastUsed struct {
		UserName          string
		AccessKeyLastUsed struct{ LastUsedDate, ServiceName, Region string }
	}
	var lu lastUsed
	admin.run(&lu, "iam", "get-access-key-last-used", "--access-key-id", k.AccessKeyId)
	if lu.UserName != "cli-user" || lu.AccessKeyLastUsed.LastUsedDate != "" || lu.AccessKeyLastUsed.ServiceName != "N/A" || lu.AccessKeyLastUsed.Region != "N/A" {
		t.Errorf("iam get-access-key-last-used (never used): %+v", lu)
	}
	user := admin.with(k.AccessKeyId, k.SecretAccessKey, "")
	user.run(&ident, "sts", "get-caller-identity")
	if ident.Arn != "arn:aws:iam::"+w.mgmt+":user/cli/cli-user" {
		t.Errorf("sts get-caller-identity with cli-user's key: %+v", ident)
	}
	admin.run(&lu, "iam", "get-access-key-last-used", "--access-key-id", k.AccessKeyId)
	if lu.AccessKeyLastUsed.LastUsedDate == "" || lu.AccessKeyLastUsed.ServiceName != "sts" || lu.AccessKeyLastUsed.Region != "us-east-1" {
		t.Errorf("iam get-access-key-last-used (used): %+v, want a date, sts, us-east-1", lu.AccessKeyLastUsed)
	}

	admin.run(nil, "iam", "update-access-key", "--user-name", "cli-user", "--access-key-id", k.AccessKeyId, "--status", "Inactive")
	if st, _ := w.sb.AccessKey(k.AccessKeyId); st.Status != awsemu.StatusInactive {
		t.Errorf("after iam update-access-key --status Inactive: sandbox status %q", st.Status)
	}
	_, stderr, code := user.exec("sts", "get-caller-identity")
	if code == 0 || !strings.Contains(stderr, "InvalidClientTokenId") {
		t.Errorf("sts get-caller-identity with a deactivated key: exit %d, stderr %q; want non-zero and InvalidClientTokenId", code, stderr)
	}

	// The remaining checks are independent of each other; run them side by side.
	t.Run("credential-report", func(t *testing.T) {
		t.Parallel()
		var gen struct{ State string }
		for range 5 {
			admin.on(t).run(&gen, "iam", "generate-credential-report")
			if gen.State == "COMPLETE" {
				break
			}
		}
		if gen.State != "COMPLETE" {
			t.Fatalf("iam generate-credential-report: state %q, want COMPLETE", gen.State)
		}
		var report struct{ Content, ReportFormat, GeneratedTime string }
		admin.on(t).run(&report, "iam", "get-credential-report")
		checkReport(t, report.Content, report.ReportFormat, w.mgmt)
	})
	t.Run("account-summary", func(t *testing.T) {
		t.Parallel()
		var summary struct{ SummaryMap map[string]int }
		admin.on(t).run(&summary, "iam", "get-account-summary")
		if summary.SummaryMap["Users"] != 5 || summary.SummaryMap["AccessKeysPerUserQuota"] != 2 {
			t.Errorf("iam get-account-summary: Users %d AccessKeysPerUserQuota %d, want 5 2",
				summary.SummaryMap["Users"], summary.SummaryMap["AccessKeysPerUserQuota"])
		}
		if _, ok := summary.SummaryMap["AccountAccessKeysPresent"]; !ok {
			t.Errorf("iam get-account-summary: no AccountAccessKeysPresent in %v", summary.SummaryMap)
		}
	})
	t.Run("organizations", func(t *testing.T) {
		t.Parallel()
		var org struct {
			Organization struct{ Id, MasterAccountId, FeatureSet string }
		}
		admin.on(t).run(&org, "organizations", "describe-organization")
		if org.Organization.MasterAccountId != w.mgmt || !strings.HasPrefix(org.Organization.Id, "o-") {
			t.Errorf("organizations describe-organization: %+v", org.Organization)
		}
		var accounts struct {
			Accounts []struct{ Id, Name, Status, State string }
		}
		admin.on(t).run(&accounts, "organizations", "list-accounts")
		var ids []string
		for _, a := range accounts.Accounts {
			ids = append(ids, a.Id)
			if a.Status != "ACTIVE" || a.Name == "" {
				t.Errorf("organizations list-accounts: %+v", a)
			}
		}
		if want := slices.Sorted(slices.Values([]string{w.mgmt, w.member})); !cmp.Equal(slices.Sorted(slices.Values(ids)), want) {
			t.Errorf("organizations list-accounts: %v, want %v", ids, want)
		}
	})
	t.Run("secrets-manager", func(t *testing.T) {
		t.Parallel()
		checkSecretsManager(t, admin.on(t), w)
	})
	t.Run("assume-role", func(t *testing.T) {
		t.Parallel()
		var assumed struct {
			Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
			AssumedRoleUser struct{ Arn string }
		}
		admin.on(t).run(&assumed, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+w.member+":role/"+spokeRole,
			"--role-session-name", "cli-session", "--external-id", externalID)
		if assumed.AssumedRoleUser.Arn != "arn:aws:sts::"+w.member+":assumed-role/"+spokeRole+"/cli-session" {
			t.Errorf("sts assume-role: AssumedRoleUser %q", assumed.AssumedRoleUser.Arn)
		}
		c := assumed.Credentials
		spoke := admin.with(c.AccessKeyId, c.SecretAccessKey, c.SessionToken)
		var memberUsers userPage
		spoke.on(t).run(&memberUsers, "iam", "list-users")
		if got := names(memberUsers); !cmp.Equal(got, []string{"dev-only"}) {
			t.Errorf("iam list-users with the assumed role: %v, want the member's [dev-only]", got)
		}
	})
}

// checkSecretsManager stores an access key as keywarden's rotation does,
// rotates it, and reads it back, through the CLI.
func checkSecretsManager(t *testing.T, admin cli, w world) {
	const name = "keywarden/iam-user/cli-user"
	first := `{"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`
	second := `{"AccessKeyId":"AKIAI44QH8DHBEXAMPLE","SecretAccessKey":"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"}`
	var created struct{ ARN, Name, VersionId string }
	admin.run(&created, "secretsmanager", "create-secret", "--name", name, "--secret-string", first,
		"--description", "access key of cli-user", "--tags", "Key=owner,Value=cli-user", "Key=managed-by,Value=keywarden")
	prefix := "arn:aws:secretsmanager:us-east-1:" + w.mgmt + ":secret:" + name + "-"
	if !strings.HasPrefix(created.ARN, prefix) || len(created.ARN) != len(prefix)+6 || created.Name != name || created.VersionId == "" {
		t.Errorf("secretsmanager create-secret: %+v", created)
	}
	type value struct {
		ARN, Name, VersionId, SecretString string
		VersionStages                      []string
		CreatedDate                        float64 // CLI v1 prints JSON-protocol timestamps as they came: epoch seconds
	}
	var got value
	admin.run(&got, "secretsmanager", "get-secret-value", "--secret-id", name)
	if got.SecretString != first || got.VersionId != created.VersionId || !cmp.Equal(got.VersionStages, []string{"AWSCURRENT"}) ||
		time.Since(time.UnixMilli(int64(got.CreatedDate*1000))).Abs() > time.Minute {
		t.Errorf("secretsmanager get-secret-value: VersionId %q stages %v CreatedDate %v, value match %v",
			got.VersionId, got.VersionStages, got.CreatedDate, got.SecretString == first)
	}
	var put struct {
		VersionId     string
		VersionStages []string
	}
	admin.run(&put, "secretsmanager", "put-secret-value", "--secret-id", created.ARN, "--secret-string", second)
	admin.run(&got, "secretsmanager", "get-secret-value", "--secret-id", name)
	if got.SecretString != second || got.VersionId != put.VersionId {
		t.Errorf("secretsmanager get-secret-value after put-secret-value: VersionId %q, want %q", got.VersionId, put.VersionId)
	}
	admin.run(&got, "secretsmanager", "get-secret-value", "--secret-id", name, "--version-stage", "AWSPREVIOUS")
	if got.SecretString != first || got.VersionId != created.VersionId {
		t.Errorf("secretsmanager get-secret-value AWSPREVIOUS: VersionId %q, want %q", got.VersionId, created.VersionId)
	}
	var desc struct {
		ARN, Description   string
		Tags               []struct{ Key, Value string }
		VersionIdsToStages map[string][]string
		LastChangedDate    float64
	}
	admin.run(&desc, "secretsmanager", "describe-secret", "--secret-id", name)
	if desc.ARN != created.ARN || desc.Description != "access key of cli-user" || len(desc.Tags) != 2 || desc.LastChangedDate == 0 ||
		!cmp.Equal(desc.VersionIdsToStages, map[string][]string{created.VersionId: {"AWSPREVIOUS"}, put.VersionId: {"AWSCURRENT"}}) {
		t.Errorf("secretsmanager describe-secret: %+v", desc)
	}
	var list struct {
		SecretList []struct{ Name string }
	}
	admin.run(&list, "secretsmanager", "list-secrets", "--filters", "Key=name,Values=keywarden/")
	if len(list.SecretList) != 1 || list.SecretList[0].Name != name {
		t.Errorf("secretsmanager list-secrets --filters Key=name,Values=keywarden/: %+v", list.SecretList)
	}
	if st, ok := w.sb.Secret(w.mgmt, "us-east-1", name); !ok || len(st.Versions) != 2 {
		t.Errorf("sandbox after the CLI: found %v, %d versions", ok, len(st.Versions))
	}

	admin.run(nil, "secretsmanager", "delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
	_, stderr, code := admin.exec("secretsmanager", "get-secret-value", "--secret-id", name)
	if code == 0 || !strings.Contains(stderr, "InvalidRequestException") || !strings.Contains(stderr, "marked for deletion") {
		t.Errorf("secretsmanager get-secret-value of a deleted secret: exit %d, stderr %q; want InvalidRequestException", code, stderr)
	}
	_, stderr, code = admin.exec("secretsmanager", "get-secret-value", "--secret-id", "keywarden/iam-user/nobody")
	if code == 0 || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("secretsmanager get-secret-value of an unknown secret: exit %d, stderr %q; want ResourceNotFoundException", code, stderr)
	}
}

// checkReport decodes and checks a credential report as the CLI prints it
// (Content base64-encoded).
func checkReport(t *testing.T, content, format, mgmt string) {
	t.Helper()
	if format != "text/csv" {
		t.Errorf("iam get-credential-report: ReportFormat %q, want text/csv", format)
	}
	data, err := base64.StdEncoding.DecodeString(content)
	if err != nil {
		t.Fatalf("iam get-credential-report: Content is not base64: %v", err)
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(records) < 2 {
		t.Fatalf("iam get-credential-report: %d records, %v\n%s", len(records), err, data)
	}
	if len(records[0]) != 22 || records[0][0] != "user" || records[0][21] != "cert_2_last_rotated" {
		t.Errorf("credential report header: %v", records[0])
	}
	var users []string
	for _, r := range records[1:] {
		users = append(users, r[0])
	}
	want := []string{"<root_account>", "admin", "cli-user", "seed-a", "seed-b", "seed-c"}
	if !cmp.Equal(users, want) {
		t.Errorf("credential report users: %v, want %v", users, want)
	}
	if records[1][1] != "arn:aws:iam::"+mgmt+":root" {
		t.Errorf("credential report root row arn %q", records[1][1])
	}
	for _, r := range records[1:] {
		if r[0] == "cli-user" && (r[8] != "false" || r[12] != "sts") {
			t.Errorf("credential report cli-user row: access_key_1_active %q service %q, want false sts", r[8], r[12])
		}
	}
}

// calls is how many times the sandbox answered op for account.
func calls(sb *awsemu.Sandbox, account, op string) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Account == account && c.Operation == op {
			n += c.Calls
		}
	}
	return n
}
