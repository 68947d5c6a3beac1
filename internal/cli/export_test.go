package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	sh "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// motoHub is moto's Security Hub, with the test's AWS environment sending
// Security Hub calls there (AWS_ENDPOINT_URL_SECURITYHUB) while every
// other call goes to AWS_ENDPOINT_URL.
type motoHub struct {
	t      *testing.T
	client *sh.Client
}

func newMotoHub(t *testing.T) *motoHub {
	t.Helper()
	srv := moto.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SECURITYHUB", srv.URL)
	return &motoHub{t: t, client: sh.NewFromConfig(awstest.Config(t, srv.URL, "AKIAIOSFODNN7EXAMPLE", "testing"))}
}

// findings returns what moto holds, by Id.
func (h *motoHub) findings() map[string]types.AwsSecurityFinding {
	h.t.Helper()
	out := map[string]types.AwsSecurityFinding{}
	p := sh.NewGetFindingsPaginator(h.client, &sh.GetFindingsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(h.t.Context())
		if err != nil {
			h.t.Fatalf("GetFindings from moto: %v", err)
		}
		for _, f := range page.Findings {
			out[aws.ToString(f.Id)] = f
		}
	}
	return out
}

// active returns the Ids of the ACTIVE findings, sorted.
func active(fs map[string]types.AwsSecurityFinding) []string {
	var ids []string
	for id, f := range fs {
		if f.RecordState == types.RecordStateActive {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// asffOf runs scan --format asff and returns its findings.
func asffOf(t *testing.T, args ...string) []report.ASFFFinding {
	t.Helper()
	r := runKeywarden(t, append([]string{"scan", "--format", "asff"}, args...)...)
	if r.code != ExitOK && r.code != ExitPartial {
		t.Fatalf("scan --format asff: exit %d (%v)\n%s", r.code, r.err, r.stderr)
	}
	var fs []report.ASFFFinding
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fs); err != nil {
		t.Fatalf("scan --format asff output: %v\n%s", err, r.stdout)
	}
	return fs
}

func idsOf(fs []report.ASFFFinding, keep func(report.ASFFFinding) bool) []string {
	var ids []string
	for _, f := range fs {
		if keep == nil || keep(f) {
			ids = append(ids, f.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func wantExportLine(t *testing.T, what string, r cmdResult, imported, resolved, failed int) {
	t.Helper()
	want := fmt.Sprintf("Security Hub: %d imported, %d resolved, %d failed\n", imported, resolved, failed)
	if r.stdout != want {
		t.Errorf("%s: stdout %q, want %q\nstderr:\n%s", what, r.stdout, want, r.stderr)
	}
}

// TestExportSecurityHubCommand scans the sandbox's organization and imports
// the findings into moto's Security Hub, end to end through the command
// line: the findings are those of scan --format asff; the next export
// updates them; a fixed key's finding is resolved; an account that cannot
// be read keeps its findings (exit 3).
func TestExportSecurityHubCommand(t *testing.T) {
	s := newScanSandbox(t)
	hub := newMotoHub(t)

	want := asffOf(t, "--org")
	if len(want) == 0 {
		t.Fatal("the sandbox's organization has no findings")
	}
	r := runKeywarden(t, "export", "securityhub", "--org")
	if r.code != ExitOK {
		t.Fatalf("export: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.code, r.err, r.stdout, r.stderr)
	}
	wantExportLine(t, "first export", r, len(want), 0, 0)
	got := hub.findings()
	if diff := cmpIDs(idsOf(want, func(f report.ASFFFinding) bool { return f.RecordState == "ACTIVE" }), active(got)); diff != "" {
		t.Errorf("ACTIVE findings in Security Hub differ from scan --format asff:\n%s", diff)
	}
	if len(got) != len(want) {
		t.Errorf("%d findings in Security Hub, want %d", len(got), len(want))
	}
	for _, f := range want {
		g, ok := got[f.ID]
		if !ok {
			continue
		}
		product := report.ASFFProductARN("aws", awsemu.DefaultRegion, f.AWSAccountID)
		if aws.ToString(g.AwsAccountId) != f.AWSAccountID || aws.ToString(g.ProductArn) != product ||
			aws.ToString(g.Title) != f.Title || g.Compliance.Status != types.ComplianceStatusFailed {
			t.Errorf("%s: account %s, product %s, title %q, %s; want %s, %s, %q, FAILED", f.ID,
				aws.ToString(g.AwsAccountId), aws.ToString(g.ProductArn), aws.ToString(g.Title), g.Compliance.Status,
				f.AWSAccountID, product, f.Title)
		}
	}
	firstUpdated := map[string]string{}
	for id, f := range got {
		firstUpdated[id] = aws.ToString(f.UpdatedAt)
	}

	// Again: the same findings, updated in place.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	r = runKeywarden(t, "export", "securityhub", "--org")
	if r.code != ExitOK {
		t.Fatalf("second export: exit %d (%v)\n%s", r.code, r.err, r.stderr)
	}
	wantExportLine(t, "second export", r, len(want), 0, 0)
	got = hub.findings()
	if len(got) != len(want) {
		t.Errorf("after the second export: %d findings, want %d (updated, not added)", len(got), len(want))
	}
	for id, f := range got {
		if aws.ToString(f.UpdatedAt) <= firstUpdated[id] {
			t.Errorf("%s: UpdatedAt %s did not move from %s", id, aws.ToString(f.UpdatedAt), firstUpdated[id])
		}
	}

	// Fix a key: the operator deletes svc-secret-holder's old key in a
	// member account.
	member := s.member(0)
	keyID := s.keyIDs[member.ID][len(s.keyIDs[member.ID])-1]
	fixedIDs := idsOf(want, func(f report.ASFFFinding) bool { return f.ProductFields["keywarden/access_key_id"] == keyID })
	if len(fixedIDs) == 0 {
		t.Fatalf("no finding for key %s of svc-secret-holder in %s", keyID, member.ID)
	}
	base, err := awsx.Load(t.Context(), awsx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	assumer := awsx.NewAssumer(base, awsx.AssumerOptions{RoleName: orggenRole, SessionName: "operator"})
	if _, err := iam.NewFromConfig(assumer.Config(member.ID, nil)).DeleteAccessKey(t.Context(), &iam.DeleteAccessKeyInput{
		UserName: aws.String("svc-secret-holder"), AccessKeyId: aws.String(keyID)}); err != nil {
		t.Fatalf("delete key %s: %v", keyID, err)
	}
	r = runKeywarden(t, "export", "securityhub", "--org")
	if r.code != ExitOK {
		t.Fatalf("export after the fix: exit %d (%v)\n%s", r.code, r.err, r.stderr)
	}
	wantExportLine(t, "export after the fix", r, len(want)-len(fixedIDs), len(fixedIDs), 0)
	got = hub.findings()
	for _, id := range fixedIDs {
		f := got[id]
		if f.RecordState != types.RecordStateArchived || f.Compliance.Status != types.ComplianceStatusPassed {
			t.Errorf("fixed key's finding %s: %s, %s; want ARCHIVED, PASSED", id, f.RecordState, f.Compliance.Status)
		}
	}
	stillActive := active(got)

	// An account that cannot be read: its findings stay as they were.
	bad := s.member(1)
	s.sb.SetFaults(awsemu.Fault{Account: bad.ID, DenyAssumeRole: true})
	badIDs := idsOf(want, func(f report.ASFFFinding) bool { return f.AWSAccountID == bad.ID && f.RecordState == "ACTIVE" })
	if len(badIDs) == 0 {
		t.Fatalf("account %s has no findings to keep", bad.ID)
	}
	exempt := len(idsOf(want, func(f report.ASFFFinding) bool { return f.AWSAccountID == bad.ID && f.RecordState != "ACTIVE" }))
	t.Logf("%d findings, %d of the fixed key, %d ACTIVE and %d exempt in the account denied", len(want), len(fixedIDs), len(badIDs), exempt)
	r = runKeywarden(t, "export", "securityhub", "--org")
	if r.code != ExitPartial || !errors.Is(r.err, ErrPartial) {
		t.Fatalf("export with an account denied: exit %d (%v), want %d", r.code, r.err, ExitPartial)
	}
	wantExportLine(t, "export with an account denied", r, len(want)-len(fixedIDs)-len(badIDs)-exempt, 0, 0)
	if !strings.Contains(r.err.Error(), bad.ID+": AccessDenied") {
		t.Errorf("error %q does not name the account that failed", r.err)
	}
	if diff := cmpIDs(stillActive, active(hub.findings())); diff != "" {
		t.Errorf("ACTIVE findings changed although an account could not be read:\n%s", diff)
	}
}

func cmpIDs(want, got []string) string {
	var b strings.Builder
	for _, id := range want {
		if !slices.Contains(got, id) {
			fmt.Fprintf(&b, "- %s\n", id)
		}
	}
	for _, id := range got {
		if !slices.Contains(want, id) {
			fmt.Fprintf(&b, "+ %s\n", id)
		}
	}
	return b.String()
}

// TestExportSecurityHubNotEnabled: Security Hub refusing the calls (not
// enabled in the account) fails every finding, exit 1, with the reason.
func TestExportSecurityHubNotEnabled(t *testing.T) {
	newScanSandbox(t)
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", "InvalidAccessException")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"Code":"InvalidAccessException","Message":"Account is not subscribed to AWS Security Hub"}`)
	}))
	defer refuse.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECURITYHUB", refuse.URL)
	want := asffOf(t, "--org")

	r := runKeywarden(t, "export", "securityhub", "--org")
	if r.code != ExitError {
		t.Fatalf("exit %d (%v), want %d", r.code, r.err, ExitError)
	}
	wantExportLine(t, "export refused", r, 0, 0, len(want))
	for _, s := range []string{"InvalidAccessException", "not subscribed", "securityhub:BatchImportFindings"} {
		if !strings.Contains(r.stderr+r.err.Error(), s) {
			t.Errorf("output does not say %q:\nstderr:\n%s\nerror: %v", s, r.stderr, r.err)
		}
	}
}

func TestExportSecurityHubUsage(t *testing.T) {
	for _, args := range [][]string{
		{"export", "securityhub", "--as-of", "2030-01-01"},
		{"export", "securityhub", "--source", "bogus"},
		{"export", "securityhub", "extra"},
		{"export", "nosuchsystem"},
	} {
		r := runKeywarden(t, args...)
		var usage *UsageError
		if r.code != ExitUsage || !errors.As(r.err, &usage) {
			t.Errorf("%v: exit %d (%v), want a usage error", args, r.code, r.err)
			continue
		}
		if !strings.HasPrefix(usage.Command, "keywarden export") {
			t.Errorf("%v: usage error of %q, want the export command's", args, usage.Command)
		}
	}
	r := runKeywarden(t, "export", "securityhub", "--help")
	for _, s := range []string{"BatchImportFindings", "PASSED", "ARCHIVED", "--org", "--region"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

// TestRenderScan: scan --format asff names the configured region and
// keywarden's version; ocsf the version; the others are report.Render's.
func TestRenderScan(t *testing.T) {
	doc := report.Build(nil, report.BuildOptions{GeneratedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Findings: []report.Finding{{
		Rule: "root_key", Severity: "critical", Stage: "report", AccountID: "111111111111", UserName: report.RootUserName, Message: "root",
	}}})
	var asff bytes.Buffer
	if err := renderScan(&asff, doc, report.FormatASFF, "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	var fs []report.ASFFFinding
	if err := json.Unmarshal(asff.Bytes(), &fs); err != nil || len(fs) != 1 {
		t.Fatalf("asff output %q: %v", asff.String(), err)
	}
	if want := "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"; fs[0].ProductARN != want || fs[0].Resources[0].Region != "eu-west-1" {
		t.Errorf("ProductArn %s, resource region %s; want %s, eu-west-1", fs[0].ProductARN, fs[0].Resources[0].Region, want)
	}
	if fs[0].ProductFields["ProviderVersion"] != buildVersion() {
		t.Errorf("ProviderVersion %q, want %q", fs[0].ProductFields["ProviderVersion"], buildVersion())
	}
	var ocsf bytes.Buffer
	if err := renderScan(&ocsf, doc, report.FormatOCSF, "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ocsf.String(), `"version":"`+buildVersion()+`"`) {
		t.Errorf("ocsf output lacks the version %s: %s", buildVersion(), ocsf.String())
	}
	var viaRender, viaScan bytes.Buffer
	if err := report.Render(&viaRender, doc, report.FormatJSON); err != nil {
		t.Fatal(err)
	}
	if err := renderScan(&viaScan, doc, report.FormatJSON, "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	if viaRender.String() != viaScan.String() {
		t.Error("json output differs from report.Render's")
	}
}
