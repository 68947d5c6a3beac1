package securityhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sh "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/report"
)

const (
	acctA = "111111111111"
	acctB = "222222222222"
	hub   = "123456789012" // moto's default account
)

var (
	scanTime   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	productARN = report.ASFFProductARN("aws", "us-east-1", hub)
)

// makeFindings makes n max_age findings in each account, one per user,
// all under the hub's product, as of the scan at `at`.
func makeFindings(at time.Time, n int, accounts ...string) []report.ASFFFinding {
	var fs []report.Finding
	for _, a := range accounts {
		for i := range n {
			user := fmt.Sprintf("user%03d", i)
			fs = append(fs, report.Finding{
				Rule: "max_age", Severity: "high", Stage: "warn", DueAt: at.AddDate(0, 0, -1),
				AccountID: a, UserName: user, UserARN: "arn:aws:iam::" + a + ":user/" + user,
				AccessKeyID: fmt.Sprintf("AKIA%s%06d", a[:6], i), KeyCreatedAt: scanTime.AddDate(-1, 0, -i), // the same keys whenever the scan
				Message:  "key is old",
				Controls: []report.Control{{Framework: "AWS Security Hub", ID: "IAM.3", Title: "rotate keys"}},
			})
		}
	}
	doc := report.Build(nil, report.BuildOptions{GeneratedAt: at, Findings: fs})
	return report.ASFF(doc, report.ASFFOptions{Region: "us-east-1", ProductAccount: hub})
}

// fakeHub is an in-memory Security Hub. Like moto, it ignores the filters
// of GetFindings (it records them), so that Export's own checks are tested.
type fakeHub struct {
	mu       sync.Mutex
	findings map[string]types.AwsSecurityFinding
	order    []string
	gets     []*sh.GetFindingsInput
	imports  []int // findings per BatchImportFindings call
	// reject makes Security Hub refuse a finding; callErr fails the n-th
	// import call (1-based), getErr every GetFindings.
	reject  func(types.AwsSecurityFinding) bool
	callErr map[int]error
	getErr  error
}

func newFakeHub() *fakeHub { return &fakeHub{findings: map[string]types.AwsSecurityFinding{}} }

func (h *fakeHub) GetFindings(_ context.Context, in *sh.GetFindingsInput, _ ...func(*sh.Options)) (*sh.GetFindingsOutput, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gets = append(h.gets, in)
	if h.getErr != nil {
		return nil, h.getErr
	}
	start, _ := strconv.Atoi(aws.ToString(in.NextToken))
	size := int(aws.ToInt32(in.MaxResults))
	out := &sh.GetFindingsOutput{}
	for _, id := range h.order[start:min(start+size, len(h.order))] {
		out.Findings = append(out.Findings, h.findings[id])
	}
	if start+size < len(h.order) {
		out.NextToken = aws.String(strconv.Itoa(start + size))
	}
	return out, nil
}

func (h *fakeHub) BatchImportFindings(_ context.Context, in *sh.BatchImportFindingsInput, _ ...func(*sh.Options)) (*sh.BatchImportFindingsOutput, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.imports = append(h.imports, len(in.Findings))
	if err := h.callErr[len(h.imports)]; err != nil {
		return nil, err
	}
	out := &sh.BatchImportFindingsOutput{}
	for _, f := range in.Findings {
		if h.reject != nil && h.reject(f) {
			out.FailedFindings = append(out.FailedFindings, types.ImportFindingsError{
				Id: f.Id, ErrorCode: aws.String("InvalidInput"), ErrorMessage: aws.String("rejected by the test"),
			})
			continue
		}
		id := aws.ToString(f.Id)
		if _, ok := h.findings[id]; !ok {
			h.order = append(h.order, id)
		}
		h.findings[id] = f
	}
	out.FailedCount = aws.Int32(int32(len(out.FailedFindings)))
	out.SuccessCount = aws.Int32(int32(len(in.Findings) - len(out.FailedFindings)))
	return out, nil
}

func TestExportBatches(t *testing.T) {
	h := newFakeHub()
	fs := makeFindings(scanTime, 115, acctA, acctB) // 230
	res, err := Export(t.Context(), h, fs, Options{ProductARN: productARN, Accounts: []string{acctA, acctB}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Result{Imported: 230}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{100, 100, 30}, h.imports); diff != "" {
		t.Errorf("findings per call (-want +got):\n%s", diff)
	}

	// The lookup filters as documented.
	if len(h.gets) != 1 {
		t.Fatalf("%d GetFindings calls, want 1 (empty hub)", len(h.gets))
	}
	f := h.gets[0].Filters
	got := map[string][]string{}
	for name, sf := range map[string][]types.StringFilter{
		"ProductArn": f.ProductArn, "GeneratorId": f.GeneratorId, "RecordState": f.RecordState, "AwsAccountId": f.AwsAccountId,
	} {
		for _, x := range sf {
			got[name] = append(got[name], string(x.Comparison)+" "+aws.ToString(x.Value))
		}
	}
	want := map[string][]string{
		"ProductArn":   {"EQUALS " + productARN},
		"GeneratorId":  {"PREFIX keywarden/"},
		"RecordState":  {"EQUALS ACTIVE"},
		"AwsAccountId": {"EQUALS " + acctA, "EQUALS " + acctB},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetFindings filters (-want +got):\n%s", diff)
	}
}

func TestExportAccountChunks(t *testing.T) {
	h := newFakeHub()
	var accounts []string
	for i := range 45 {
		accounts = append(accounts, fmt.Sprintf("%012d", i))
	}
	if _, err := Export(t.Context(), h, nil, Options{ProductARN: productARN, Accounts: accounts}); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, g := range h.gets {
		sizes = append(sizes, len(g.Filters.AwsAccountId))
	}
	if diff := cmp.Diff([]int{20, 20, 5}, sizes); diff != "" {
		t.Errorf("accounts per GetFindings (-want +got):\n%s", diff)
	}
	if len(h.imports) != 0 {
		t.Errorf("%d import calls with nothing to import", len(h.imports))
	}
}

func TestExportFailedFindings(t *testing.T) {
	h := newFakeHub()
	h.reject = func(f types.AwsSecurityFinding) bool { return strings.Contains(aws.ToString(f.Id), "/user007/") }
	fs := makeFindings(scanTime, 10, acctA, acctB)
	res, err := Export(t.Context(), h, fs, Options{ProductARN: productARN, Accounts: []string{acctA, acctB}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 18 || res.Failed != 2 || len(res.Failures) != 2 {
		t.Fatalf("result %+v, want 18 imported and 2 failed", res)
	}
	for _, f := range res.Failures {
		if !strings.Contains(f.ID, "/user007/") || f.Code != "InvalidInput" || f.Message != "rejected by the test" {
			t.Errorf("failure %+v", f)
		}
	}
}

func TestExportCallFails(t *testing.T) {
	h := newFakeHub()
	h.callErr = map[int]error{2: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}}
	fs := makeFindings(scanTime, 115, acctA, acctB)
	res, err := Export(t.Context(), h, fs, Options{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("error %v, want the AccessDeniedException", err)
	}
	if !strings.Contains(err.Error(), "import findings 101 to 230 of 230") {
		t.Errorf("error %q does not say which findings were not sent", err)
	}
	if res.Imported != 100 || res.Failed != 130 || res.Failures[0].Code != "AccessDeniedException" {
		t.Errorf("result: %d imported, %d failed (%+v); want 100 and the 130 not sent", res.Imported, res.Failed, res.Failures[0])
	}
	if len(h.imports) != 2 {
		t.Errorf("%d calls, want 2: it stops at the first failed call", len(h.imports))
	}
}

func TestExportLookupFails(t *testing.T) {
	h := newFakeHub()
	h.getErr = &smithy.GenericAPIError{Code: "InvalidAccessException", Message: "Account is not subscribed to AWS Security Hub"}
	res, err := Export(t.Context(), h, makeFindings(scanTime, 3, acctA), Options{ProductARN: productARN, Accounts: []string{acctA}})
	if err == nil || !strings.Contains(err.Error(), "not subscribed") {
		t.Fatalf("error %v, want the lookup's", err)
	}
	if len(h.imports) != 0 || res.Imported != 0 {
		t.Errorf("imported after the lookup failed: %d calls, %+v", len(h.imports), res)
	}
	if _, err := Export(t.Context(), h, nil, Options{Accounts: []string{acctA}}); err == nil {
		t.Error("accounts to resolve but no product ARN: no error")
	}
}

// TestExportResolvesOnlyItsOwn: of what the lookup returns, only ACTIVE
// keywarden findings of the product in the accounts given are resolved,
// whatever the service did with the filters.
func TestExportResolvesOnlyItsOwn(t *testing.T) {
	h := newFakeHub()
	seed := makeFindings(scanTime, 1, acctA, acctB)
	mine := toSDK(seed[0])
	otherAccount := toSDK(seed[1])
	otherProduct := toSDK(seed[0])
	otherProduct.Id = aws.String("other-product")
	otherProduct.ProductArn = aws.String(report.ASFFProductARN("aws", "us-east-1", acctA))
	otherGenerator := toSDK(seed[0])
	otherGenerator.Id, otherGenerator.GeneratorId = aws.String("other-generator"), aws.String("prowler/iam")
	archived := toSDK(seed[0])
	archived.Id, archived.RecordState = aws.String("archived"), types.RecordStateArchived
	for _, f := range []types.AwsSecurityFinding{mine, otherAccount, otherProduct, otherGenerator, archived} {
		h.findings[aws.ToString(f.Id)] = f
		h.order = append(h.order, aws.ToString(f.Id))
	}
	res, err := Export(t.Context(), h, nil, Options{ProductARN: productARN, Accounts: []string{acctA}, Now: scanTime.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resolved != 1 || res.Imported != 0 {
		t.Fatalf("result %+v, want one resolved", res)
	}
	got := h.findings[aws.ToString(mine.Id)]
	if got.RecordState != types.RecordStateArchived || got.Compliance.Status != types.ComplianceStatusPassed ||
		got.Severity.Label != types.SeverityLabelInformational || aws.ToString(got.Severity.Original) != "high" {
		t.Errorf("resolved finding: %s, %s, %s/%s; want ARCHIVED, PASSED, INFORMATIONAL/high",
			got.RecordState, got.Compliance.Status, got.Severity.Label, aws.ToString(got.Severity.Original))
	}
	if aws.ToString(got.UpdatedAt) != "2026-03-01T13:00:00Z" || got.ProductFields["keywarden/resolved_at"] != "2026-03-01T13:00:00Z" {
		t.Errorf("UpdatedAt %s, resolved_at %s; want the time of the export", aws.ToString(got.UpdatedAt), got.ProductFields["keywarden/resolved_at"])
	}
	if aws.ToString(got.CreatedAt) != aws.ToString(mine.CreatedAt) {
		t.Errorf("CreatedAt changed to %s", aws.ToString(got.CreatedAt))
	}
	for _, id := range []string{aws.ToString(otherAccount.Id), "other-product", "other-generator", "archived"} {
		if f := h.findings[id]; aws.ToString(f.UpdatedAt) != aws.ToString(mine.UpdatedAt) {
			t.Errorf("%s was touched: %+v", id, f)
		}
	}
}

// TestExportUpdatedAtMoves: an import always moves UpdatedAt forward, even
// when Security Hub's copy is newer than the clock.
func TestExportUpdatedAtMoves(t *testing.T) {
	h := newFakeHub()
	fs := makeFindings(scanTime, 1, acctA)
	ahead := toSDK(fs[0])
	ahead.UpdatedAt = aws.String("2026-03-01T15:00:00Z")
	ahead.CreatedAt = aws.String("2026-02-01T00:00:00Z")
	ahead.FirstObservedAt = aws.String("2026-02-01T00:00:00Z")
	h.findings[fs[0].ID], h.order = ahead, []string{fs[0].ID}
	if _, err := Export(t.Context(), h, fs, Options{ProductARN: productARN, Accounts: []string{acctA}, Now: scanTime.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got := h.findings[fs[0].ID]
	want := []string{"2026-03-01T15:00:01Z", "2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T12:00:00Z"}
	if diff := cmp.Diff(want, []string{aws.ToString(got.UpdatedAt), aws.ToString(got.CreatedAt),
		aws.ToString(got.FirstObservedAt), aws.ToString(got.LastObservedAt)}); diff != "" {
		t.Errorf("UpdatedAt, CreatedAt, FirstObservedAt, LastObservedAt (-want +got):\n%s", diff)
	}
}

// TestExportWire sends findings through the real SDK client to a server
// that records the request: what reaches Security Hub is the ASFF of
// report (scan --format asff), but for UpdatedAt.
func TestExportWire(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/findings/import" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		var in struct{ Findings []json.RawMessage }
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"FailedCount":0,"SuccessCount":%d,"FailedFindings":[]}`, len(in.Findings))
	}))
	defer srv.Close()

	doc := report.Build(nil, report.BuildOptions{GeneratedAt: scanTime, Findings: []report.Finding{
		{Rule: "max_age", Severity: "high", Stage: "warn", AccountID: acctA, UserName: "svc", UserARN: "arn:aws:iam::" + acctA + ":user/svc",
			AccessKeyID: "AKIAEXAMPLE000000001", KeySlot: 2, KeyCreatedAt: scanTime.AddDate(-1, 0, 0), Message: "old",
			Controls: []report.Control{{Framework: "CIS AWS Foundations Benchmark", Versions: "v5.0.0", ID: "1.13", Title: "t"}}},
		{Rule: "root_key", Severity: "critical", Stage: "report", AccountID: acctA, UserName: report.RootUserName, Message: "root"},
		{Rule: "unused", Severity: "low", Stage: "warn", AccountID: acctA, UserName: "bob", KeySlot: 1,
			KeyCreatedAt: scanTime.AddDate(0, -6, 0), Message: "unused", Exempt: true, ExemptionReason: "why"},
	}})
	fs := report.ASFF(doc, report.ASFFOptions{Region: "eu-west-1", ProductVersion: "v9"})
	cfg, err := awsx.Load(t.Context(), awsx.Options{Region: "eu-west-1", Endpoint: srv.URL, MaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Export(t.Context(), sh.NewFromConfig(cfg), fs, Options{Now: scanTime.Add(time.Minute)})
	if err != nil || res.Imported != 3 {
		t.Fatalf("Export: %+v, %v", res, err)
	}
	if len(bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(bodies))
	}
	var sent struct{ Findings []map[string]any }
	if err := json.Unmarshal(bodies[0], &sent); err != nil {
		t.Fatal(err)
	}
	var file []map[string]any
	raw, _ := json.Marshal(fs)
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for _, f := range file {
		f["UpdatedAt"] = "2026-03-01T12:01:00Z"
	}
	if diff := cmp.Diff(file, sent.Findings); diff != "" {
		t.Errorf("sent findings differ from the ASFF output (-asff +sent):\n%s", diff)
	}
}

func TestResultAdd(t *testing.T) {
	var r Result
	r.Add(Result{Imported: 2, Resolved: 1})
	r.Add(Result{Imported: 1, Failed: 1, Failures: []Failure{{ID: "x"}}})
	want := Result{Imported: 3, Resolved: 1, Failed: 1, Failures: []Failure{{ID: "x"}}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
