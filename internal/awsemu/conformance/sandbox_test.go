package conformance

// Sandbox-only checks: AWS behaviour that moto cannot show at all (root
// keys, report states, clock-driven expiry, authorization), asserted
// against the sandbox alone.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsemu"
)

func TestSandboxMalformedAuthorization(t *testing.T) {
	tgt := newSandboxTarget(t)
	form := iamForm("ListUsers").Encode()
	for _, tc := range []struct {
		name, auth, code string
		status           int
	}{
		{"garbled", "AWS4-HMAC-SHA256 Credential=garbage", "IncompleteSignature", http.StatusBadRequest},
		{"no signature", "AWS4-HMAC-SHA256 Credential=" + tgt.hubKey.AccessKeyID + "/20260101/us-east-1/iam/aws4_request, SignedHeaders=host", "IncompleteSignature", http.StatusBadRequest},
		{"missing", "", "MissingAuthenticationToken", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tgt.rawSigned(t, tgt.hubKey, "iam", "application/x-www-form-urlencoded", "", form, func(r *http.Request) {
				if tc.auth == "" {
					r.Header.Del("Authorization")
				} else {
					r.Header.Set("Authorization", tc.auth)
				}
			})
			if raw.status != tc.status || !strings.Contains(raw.body, "<Code>"+tc.code+"</Code>") || !strings.Contains(raw.body, "<ErrorResponse") {
				t.Errorf("Authorization %q: HTTP %d, want %d %s:\n%s", tc.auth, raw.status, tc.status, tc.code, raw.body)
			}
		})
	}
}

// TestSandboxKeyUseTracking checks that a successful call records the
// signing key's last use (date from the sandbox clock, service and region
// from the signature scope), at most once per 15 minutes, as IAM does.
func TestSandboxKeyUseTracking(t *testing.T) {
	tgt := newSandboxTarget(t)
	ctx := t.Context()
	clock := tgt.sb.Clock()
	clock.Freeze()
	hub := tgt.iam(tgt.hub)
	_, err := hub.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("hank")})
	ok(t, err, "CreateUser")
	k, err := hub.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("hank")})
	ok(t, err, "CreateAccessKey")
	id, secret := aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)

	cfg := tgt.keyConfig(t, id, secret)
	cfg.Region = "eu-west-2"
	want := func(when string, at time.Time, service, region string) {
		t.Helper()
		at = at.UTC().Truncate(time.Second)
		out, err := hub.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
		ok(t, err, "GetAccessKeyLastUsed")
		lu := out.AccessKeyLastUsed
		if lu == nil || !aws.ToTime(lu.LastUsedDate).Equal(at) || aws.ToString(lu.ServiceName) != service || aws.ToString(lu.Region) != region {
			t.Errorf("%s: GetAccessKeyLastUsed %v %q %q, want %v %q %q", when, aws.ToTime(lu.LastUsedDate), aws.ToString(lu.ServiceName), aws.ToString(lu.Region), at, service, region)
		}
		st, found := tgt.sb.AccessKey(id)
		if !found || !st.LastUsed.Equal(at) || st.LastUsedService != service || st.LastUsedRegion != region {
			t.Errorf("%s: sb.AccessKey %+v, want last use %v %q %q", when, st, at, service, region)
		}
	}

	first := clock.Now()
	_, err = tgt.sts(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	ok(t, err, "GetCallerIdentity with hank's key")
	want("after an STS call", first, "sts", "eu-west-2")

	clock.Advance(10 * time.Minute)
	_, err = tgt.iam(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("hank")})
	ok(t, err, "ListAccessKeys with hank's key")
	want("after an IAM call 10 minutes later", first, "sts", "eu-west-2")

	clock.Advance(6 * time.Minute)
	_, err = tgt.iam(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("hank")})
	ok(t, err, "ListAccessKeys with hank's key")
	want("after an IAM call 16 minutes later", clock.Now(), "iam", "eu-west-2")

	// A refused call is not a use.
	_, err = hub.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("hank"), AccessKeyId: aws.String(id), Status: types.StatusTypeInactive})
	ok(t, err, "UpdateAccessKey")
	used := clock.Now()
	clock.Advance(time.Hour)
	_, err = tgt.iam(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("hank")})
	wantAPIError(t, err, "call with an inactive key", "InvalidClientTokenId", http.StatusForbidden)
	want("after a refused call", used, "iam", "eu-west-2")
}

func TestSandboxRootCredentials(t *testing.T) {
	tgt := newSandboxTarget(t)
	ctx := t.Context()
	if _, err := tgt.sb.AddAccessKey(awsemu.KeySpec{Account: tgt.mgmt}); err != nil {
		t.Fatalf("add root key: %v", err)
	}
	if err := tgt.sb.SetRootMFA(tgt.mgmt, true); err != nil {
		t.Fatalf("set root MFA: %v", err)
	}
	c := tgt.iam(tgt.hub)
	sum, err := c.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	ok(t, err, "GetAccountSummary")
	if sum.SummaryMap["AccountAccessKeysPresent"] != 1 || sum.SummaryMap["AccountMFAEnabled"] != 1 {
		t.Errorf("GetAccountSummary with a root key and root MFA: AccountAccessKeysPresent %d AccountMFAEnabled %d, want 1 1",
			sum.SummaryMap["AccountAccessKeysPresent"], sum.SummaryMap["AccountMFAEnabled"])
	}
	// A member without root credentials still reports 0.
	msum, err := tgt.iam(tgt.member(t, 0)).GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	ok(t, err, "GetAccountSummary in a member")
	if msum.SummaryMap["AccountAccessKeysPresent"] != 0 {
		t.Errorf("GetAccountSummary in a member: AccountAccessKeysPresent %d, want 0", msum.SummaryMap["AccountAccessKeysPresent"])
	}

	generateReport(t, c)
	_, rows := getReport(t, c)
	root := rows[0]
	if root["user"] != "<root_account>" || root["mfa_active"] != "true" || root["access_key_1_active"] != "true" ||
		root["access_key_1_last_used_date"] != "N/A" || root["access_key_2_active"] != "false" {
		t.Errorf("root row: %v, want <root_account> with MFA and one active unused key", root)
	}
}

func TestSandboxReportLifecycle(t *testing.T) {
	tgt := newSandboxTargetWith(t, awsemu.Options{Seed: 1, ReportInProgressPolls: 2})
	ctx := t.Context()
	c := tgt.iam(tgt.hub)
	clock := tgt.sb.Clock()

	gen := func() types.ReportStateType {
		t.Helper()
		out, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		ok(t, err, "GenerateCredentialReport")
		return out.State
	}
	if s := gen(); s != types.ReportStateTypeStarted {
		t.Errorf("first GenerateCredentialReport: %q, want STARTED", s)
	}
	_, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	wantTyped[*types.CredentialReportNotReadyException](t, err, "GetCredentialReport while generating")
	wantAPIError(t, err, "GetCredentialReport while generating", "ReportInProgress", http.StatusNotFound)
	for i := range 2 {
		if s := gen(); s != types.ReportStateTypeInprogress {
			t.Errorf("GenerateCredentialReport poll %d: %q, want INPROGRESS", i+1, s)
		}
	}
	if s := gen(); s != types.ReportStateTypeComplete {
		t.Errorf("GenerateCredentialReport after the polls: %q, want COMPLETE", s)
	}
	out, _ := getReport(t, c)
	if g := aws.ToTime(out.GeneratedTime); g.Sub(clock.Now()).Abs() > time.Minute {
		t.Errorf("GeneratedTime %v, want the sandbox clock's now %v", g, clock.Now())
	}

	clock.Advance(4*time.Hour + time.Minute)
	_, err = c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	wantTyped[*types.CredentialReportExpiredException](t, err, "GetCredentialReport after 4 hours")
	wantAPIError(t, err, "GetCredentialReport after 4 hours", "ReportExpired", http.StatusGone)
	if s := gen(); s != types.ReportStateTypeStarted {
		t.Errorf("GenerateCredentialReport after 4 hours: %q, want STARTED", s)
	}
}

func TestSandboxAuthorization(t *testing.T) {
	tgt := newSandboxTarget(t)
	ctx := t.Context()
	// Organizations List calls are for the management account.
	member := tgt.orgs(tgt.member(t, 0))
	_, err := member.ListAccounts(ctx, &organizations.ListAccountsInput{})
	wantTyped[*orgtypes.AccessDeniedException](t, err, "ListAccounts from a member")
	_, err = member.ListRoots(ctx, &organizations.ListRootsInput{})
	wantTyped[*orgtypes.AccessDeniedException](t, err, "ListRoots from a member")

	// The spoke role trusts the management account only: a member cannot
	// assume another member's role.
	_, err = tgt.sts(tgt.member(t, 0)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(tgt.roleARN(tgt.members[1], spokeRole)), RoleSessionName: aws.String("lateral"), ExternalId: aws.String(externalID)})
	wantAPIError(t, err, "AssumeRole from a member into another member", "AccessDenied", http.StatusForbidden)
}

func TestSandboxValidation(t *testing.T) {
	tgt := newSandboxTarget(t)
	ctx := t.Context()
	c := tgt.iam(tgt.hub)
	_, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1001)})
	wantAPIError(t, err, "ListUsers MaxItems=1001", "ValidationError", http.StatusBadRequest)
	_, err = c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("no-slash")})
	wantAPIError(t, err, "ListUsers PathPrefix without slashes", "ValidationError", http.StatusBadRequest)
	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(strings.Repeat("u", 65))})
	wantAPIError(t, err, "CreateUser with a 65-character name", "ValidationError", http.StatusBadRequest)

	o := tgt.orgs(tgt.hub)
	_, err = o.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(0)})
	wantTyped[*orgtypes.InvalidInputException](t, err, "ListAccounts MaxResults=0")

	// Missing Action.
	raw := tgt.rawQuery(t, tgt.hubKey, "iam", url.Values{"Version": {"2010-05-08"}})
	if raw.status != http.StatusBadRequest || !strings.Contains(raw.body, "<Code>MissingAction</Code>") {
		t.Errorf("request without Action: HTTP %d, want 400 MissingAction:\n%s", raw.status, raw.body)
	}
}

func TestSandboxAccountAlias(t *testing.T) {
	sb := awsemu.New(awsemu.Options{Seed: 2})
	id, err := sb.AddAccount(awsemu.AccountSpec{Alias: "acme-prod"})
	ok(t, err, "add account")
	ok(t, sb.AddUser(awsemu.UserSpec{Account: id, Name: adminUser}), "add user")
	key, err := sb.AddAccessKey(awsemu.KeySpec{Account: id, User: adminUser})
	ok(t, err, "add key")
	tgt := &target{name: "sandbox", sb: sb, url: newServer(t, sb)}
	out, err := tgt.iam(tgt.keyConfig(t, key.AccessKeyID, key.SecretAccessKey)).ListAccountAliases(t.Context(), &iam.ListAccountAliasesInput{})
	ok(t, err, "ListAccountAliases")
	if len(out.AccountAliases) != 1 || out.AccountAliases[0] != "acme-prod" || out.IsTruncated {
		t.Errorf("ListAccountAliases: %v IsTruncated %v, want [acme-prod] false", out.AccountAliases, out.IsTruncated)
	}
}
