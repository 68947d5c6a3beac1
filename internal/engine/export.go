package engine

import (
	"context"
	"errors"
	"time"

	sh "github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/securityhub"
)

// Document is the report of a scan, with its findings, for the renderers.
func (r *ScanResult) Document(asOf time.Time) *report.Document {
	return report.Build(r.Inventory, report.BuildOptions{GeneratedAt: r.Inventory.FinishedAt, AsOf: asOf, Findings: ReportFindings(r.Findings),
		Rotations: reportRotations(r.Rotations)})
}

// reportRotations carries the rotations under way into the report.
func reportRotations(rs []remediate.RotationState) []report.Rotation {
	var out []report.Rotation
	for _, r := range rs {
		out = append(out, report.Rotation{AccountID: r.AccountID, UserName: r.UserName, OldKeyID: r.OldKeyID, NewKeyID: r.NewKeyID,
			SecretARN: r.SecretARN, CreatedAt: r.CreatedAt, StoredAt: r.StoredAt, NewKeyUsedAt: r.NewKeyUsedAt,
			OldKeyQuietSince: r.OldKeyQuietSince, CutoverAt: r.CutoverAt, Deadline: r.Deadline, Phase: r.Phase, Summary: r.Describe()})
	}
	return out
}

// ReportFindings carries the policy's findings into the report.
func ReportFindings(fs []policy.Finding) []report.Finding {
	out := make([]report.Finding, 0, len(fs))
	for _, f := range fs {
		rf := report.Finding{
			Rule: string(f.Rule), Severity: string(f.Severity), Stage: string(f.Stage), DueAt: f.DueAt,
			NextStage: string(f.NextStage), NextStageAt: f.NextStageAt,
			AccountID: f.AccountID, AccountName: f.AccountName, UserName: f.UserName, UserARN: f.UserARN,
			AccessKeyID: f.AccessKeyID, KeySlot: f.KeySlot, KeyCreatedAt: f.KeyCreatedAt,
			Message: f.Message, Exempt: f.Exempt, ExemptionReason: f.ExemptionReason,
			ExemptionSource: f.ExemptionSource, Estimated: f.Estimated,
		}
		if f.ExemptionExpires != nil {
			rf.ExemptionExpires = f.ExemptionExpires.String()
		}
		for _, c := range f.Controls {
			rf.Controls = append(rf.Controls, report.Control{Framework: c.Framework, Versions: c.Versions, ID: c.ID, Title: c.Title})
		}
		out = append(out, rf)
	}
	return out
}

// ExportRequest is one export of findings to Security Hub.
type ExportRequest struct {
	Read Read
	// ProductVersion is keywarden's version, written into each finding.
	ProductVersion string
}

// ExportResult is what an export did.
type ExportResult struct {
	Scan *ScanResult
	// Region is the Security Hub region the findings went to.
	Region string
	// Accounts are the accounts read completely and exported, in order.
	Accounts []securityhub.AccountResult
}

// Total adds up the accounts' results.
func (r *ExportResult) Total() securityhub.Result {
	var t securityhub.Result
	for _, a := range r.Accounts {
		t.Add(a.Result)
	}
	return t
}

// ExportSecurityHub scans and imports the findings into each account's
// Security Hub, in the region of the hub's configuration. An account that
// could not be read is left out: its findings in Security Hub stay as
// they were, never resolved from a partial view.
func (e *Engine) ExportSecurityHub(ctx context.Context, req ExportRequest) (*ExportResult, error) {
	if !req.Read.AsOf.IsZero() {
		return nil, errors.New("security hub gets what is true now, not a forecast (--as-of)")
	}
	sc, err := e.Scan(ctx, req.Read)
	if err != nil {
		return nil, err
	}
	return e.ExportScan(ctx, sc, req.ProductVersion, req.Read.Parallel)
}

// ExportScan imports a scan's findings into each account's Security Hub,
// parallel accounts at a time, as ExportSecurityHub does after its scan.
func (e *Engine) ExportScan(ctx context.Context, sc *ScanResult, productVersion string, parallel int) (*ExportResult, error) {
	if parallel <= 0 {
		parallel = inventory.DefaultParallel
	}
	region := e.Hub.Base.Region
	doc := sc.Document(time.Time{})
	asff := report.ASFF(doc, report.ASFFOptions{Region: region, Partition: e.Hub.Partition, ProductVersion: productVersion})
	var accounts []string
	for _, a := range sc.Inventory.Accounts {
		if a.Status == inventory.AccountOK {
			accounts = append(accounts, a.Account.ID)
		}
	}
	res := &ExportResult{Scan: sc, Region: region}
	var err error
	res.Accounts, err = securityhub.ExportAccounts(ctx, accounts, asff,
		func(id string) securityhub.API { return sh.NewFromConfig(e.Hub.Config(id, nil)) },
		func(id string) string { return report.ASFFProductARN(e.Hub.Partition, region, id) },
		parallel, e.now())
	for _, a := range res.Accounts {
		e.log().Info("security hub", "account", a.AccountID, "imported", a.Imported, "resolved", a.Resolved, "failed", a.Failed)
	}
	return res, err
}
