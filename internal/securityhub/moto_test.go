package securityhub

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sh "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

func TestMain(m *testing.M) {
	code := m.Run()
	moto.StopShared()
	os.Exit(code)
}

// motoClient is a Security Hub client for a fresh moto. moto answers
// without EnableSecurityHub (real AWS: InvalidAccessException).
func motoClient(t *testing.T) *sh.Client {
	t.Helper()
	srv := moto.Shared(t)
	return sh.NewFromConfig(awstest.Config(t, srv.URL, "AKIAIOSFODNN7EXAMPLE", "testing"))
}

// countingAPI counts the calls made through the real client.
type countingAPI struct {
	API
	mu      sync.Mutex
	imports []int
	gets    int
}

func (c *countingAPI) BatchImportFindings(ctx context.Context, in *sh.BatchImportFindingsInput, optFns ...func(*sh.Options)) (*sh.BatchImportFindingsOutput, error) {
	c.mu.Lock()
	c.imports = append(c.imports, len(in.Findings))
	c.mu.Unlock()
	return c.API.BatchImportFindings(ctx, in, optFns...)
}

func (c *countingAPI) GetFindings(ctx context.Context, in *sh.GetFindingsInput, optFns ...func(*sh.Options)) (*sh.GetFindingsOutput, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.API.GetFindings(ctx, in, optFns...)
}

// stored returns every finding moto holds, by Id.
func stored(t *testing.T, c *sh.Client) map[string]types.AwsSecurityFinding {
	t.Helper()
	out := map[string]types.AwsSecurityFinding{}
	p := sh.NewGetFindingsPaginator(c, &sh.GetFindingsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("GetFindings: %v", err)
		}
		for _, f := range page.Findings {
			if _, dup := out[aws.ToString(f.Id)]; dup {
				t.Errorf("finding %s listed twice", aws.ToString(f.Id))
			}
			out[aws.ToString(f.Id)] = f
		}
	}
	return out
}

func countActive(fs map[string]types.AwsSecurityFinding) int {
	n := 0
	for _, f := range fs {
		if f.RecordState == types.RecordStateActive {
			n++
		}
	}
	return n
}

func wantResult(t *testing.T, what string, res Result, err error, imported, resolved int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.Imported != imported || res.Resolved != resolved || res.Failed != 0 {
		t.Fatalf("%s: %d imported, %d resolved, %d failed (%+v); want %d, %d, 0",
			what, res.Imported, res.Resolved, res.Failed, res.Failures, imported, resolved)
	}
}

// TestExportMoto runs the life of findings against moto's Security Hub:
// imported, updated in place by the next scan, resolved when the key is
// fixed, opened again when it breaks again, and never resolved in an
// account that could not be read.
func TestExportMoto(t *testing.T) {
	c := motoClient(t)
	ctx := t.Context()
	both := []string{acctA, acctB}
	first := makeFindings(scanTime, 4, acctA, acctB) // A's 4, then B's 4
	n := len(first)

	t0 := scanTime.Add(time.Minute)
	res, err := Export(ctx, c, first, Options{ProductARN: productARN, Accounts: both, Now: t0})
	wantResult(t, "first export", res, err, n, 0)
	got := stored(t, c)
	if len(got) != n || countActive(got) != n {
		t.Fatalf("after the first export: %d findings, %d ACTIVE; want %d ACTIVE", len(got), countActive(got), n)
	}
	for _, f := range first {
		s := got[f.ID]
		if aws.ToString(s.UpdatedAt) != "2026-03-01T12:01:00Z" || aws.ToString(s.CreatedAt) != "2026-03-01T12:00:00Z" ||
			s.Compliance.Status != types.ComplianceStatusFailed {
			t.Errorf("%s: UpdatedAt %s, CreatedAt %s, %s", f.ID, aws.ToString(s.UpdatedAt), aws.ToString(s.CreatedAt), s.Compliance.Status)
		}
	}

	// The next day's scan finds the same: updated, not duplicated.
	second := makeFindings(scanTime.Add(24*time.Hour), 4, acctA, acctB)
	t1 := t0.Add(24 * time.Hour)
	res, err = Export(ctx, c, second, Options{ProductARN: productARN, Accounts: both, Now: t1})
	wantResult(t, "second export", res, err, n, 0)
	got = stored(t, c)
	if len(got) != n || countActive(got) != n {
		t.Fatalf("after the second export: %d findings, %d ACTIVE; want %d, all ACTIVE", len(got), countActive(got), n)
	}
	for _, f := range second {
		s := got[f.ID]
		if aws.ToString(s.UpdatedAt) != "2026-03-02T12:01:00Z" {
			t.Errorf("%s: UpdatedAt %s, want it moved to the second export", f.ID, aws.ToString(s.UpdatedAt))
		}
		if aws.ToString(s.CreatedAt) != "2026-03-01T12:00:00Z" || aws.ToString(s.FirstObservedAt) != "2026-03-01T12:00:00Z" {
			t.Errorf("%s: CreatedAt %s, FirstObservedAt %s; want the first scan's", f.ID, aws.ToString(s.CreatedAt), aws.ToString(s.FirstObservedAt))
		}
		if aws.ToString(s.LastObservedAt) != "2026-03-02T12:00:00Z" {
			t.Errorf("%s: LastObservedAt %s, want the second scan's", f.ID, aws.ToString(s.LastObservedAt))
		}
	}

	// One key of A is fixed.
	fixed := second[1]
	third := append(append([]report.ASFFFinding{}, second[:1]...), second[2:]...)
	t2 := t1.Add(time.Hour)
	res, err = Export(ctx, c, third, Options{ProductARN: productARN, Accounts: both, Now: t2})
	wantResult(t, "export with a key fixed", res, err, n-1, 1)
	got = stored(t, c)
	if len(got) != n || countActive(got) != n-1 {
		t.Fatalf("after a key was fixed: %d findings, %d ACTIVE; want %d, %d ACTIVE", len(got), countActive(got), n, n-1)
	}
	s := got[fixed.ID]
	if s.RecordState != types.RecordStateArchived || s.Compliance.Status != types.ComplianceStatusPassed ||
		aws.ToString(s.UpdatedAt) != "2026-03-02T13:01:00Z" {
		t.Errorf("fixed key's finding: %s, %s, UpdatedAt %s; want ARCHIVED, PASSED, 2026-03-02T13:01:00Z",
			s.RecordState, s.Compliance.Status, aws.ToString(s.UpdatedAt))
	}

	// Account B could not be read: its findings are not in the export, and
	// it is left out of Accounts. Another key of A is fixed meanwhile.
	var onlyA []report.ASFFFinding
	for _, f := range third {
		if f.AWSAccountID == acctA && f.ID != third[0].ID {
			onlyA = append(onlyA, f)
		}
	}
	res, err = Export(ctx, c, onlyA, Options{ProductARN: productARN, Accounts: []string{acctA}, Now: t2.Add(time.Hour)})
	wantResult(t, "export with B failed", res, err, len(onlyA), 1)
	got = stored(t, c)
	for _, f := range second[4:] {
		if got[f.ID].RecordState != types.RecordStateActive {
			t.Errorf("%s of the failed account was resolved", f.ID)
		}
	}
	if got[third[0].ID].RecordState != types.RecordStateArchived {
		t.Errorf("%s of the account read was not resolved", third[0].ID)
	}

	// The fixed key breaks the rule again: ACTIVE and FAILED once more.
	res, err = Export(ctx, c, second, Options{ProductARN: productARN, Accounts: both, Now: t2.Add(2 * time.Hour)})
	wantResult(t, "export with every key broken again", res, err, n, 0)
	got = stored(t, c)
	if len(got) != n || countActive(got) != n || got[fixed.ID].Compliance.Status != types.ComplianceStatusFailed {
		t.Errorf("after the keys broke again: %d findings, %d ACTIVE, fixed one %s; want %d ACTIVE, FAILED",
			len(got), countActive(got), got[fixed.ID].Compliance.Status, n)
	}
}

// TestExportMotoBatches: 230 findings go in three calls, and the next
// export pages through them all to update them in place.
func TestExportMotoBatches(t *testing.T) {
	c := motoClient(t)
	api := &countingAPI{API: c}
	fs := makeFindings(scanTime, 115, acctA, acctB)
	opts := Options{ProductARN: productARN, Accounts: []string{acctA, acctB}, Now: scanTime.Add(time.Minute)}
	res, err := Export(t.Context(), api, fs, opts)
	wantResult(t, "first export", res, err, 230, 0)
	if len(api.imports) != 3 || api.imports[0] != 100 || api.imports[1] != 100 || api.imports[2] != 30 {
		t.Errorf("BatchImportFindings calls of %v findings, want [100 100 30]", api.imports)
	}
	if got := stored(t, c); len(got) != 230 || countActive(got) != 230 {
		t.Errorf("%d findings, %d ACTIVE; want 230", len(got), countActive(got))
	}

	api.imports, api.gets = nil, 0
	opts.Now = opts.Now.Add(time.Hour)
	res, err = Export(t.Context(), api, fs[:229], opts)
	wantResult(t, "second export", res, err, 229, 1)
	if api.gets != 3 {
		t.Errorf("%d GetFindings calls, want 3 pages of 100", api.gets)
	}
	if got := stored(t, c); len(got) != 230 || countActive(got) != 229 {
		t.Errorf("%d findings, %d ACTIVE; want 230, 229", len(got), countActive(got))
	}
}
