// Package securityhub imports keywarden's findings into AWS Security Hub
// with BatchImportFindings, as a custom integration: one finding per key and
// rule, updated rather than duplicated by the next import (the Ids are
// stable, see report.ASFFID), and resolved once the key no longer breaks
// the rule.
//
// A finding provider resolves a finding by importing it again with
// Compliance.Status PASSED and RecordState ARCHIVED; BatchImportFindings
// cannot change its Workflow, which belongs to the customer (Security Hub
// moves a RESOLVED or NOTIFIED workflow back to NEW if the finding becomes
// ACTIVE again). Export resolves only in the accounts it is told were read
// completely, never from a partial view.
//
// The findings are made by report.ASFF; this package only sends them.
package securityhub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sh "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/report"
)

// API is what Export calls: securityhub:GetFindings and
// securityhub:BatchImportFindings, the IAM permissions it needs.
// *securityhub.Client implements it.
type API interface {
	sh.GetFindingsAPIClient
	BatchImportFindings(ctx context.Context, in *sh.BatchImportFindingsInput, optFns ...func(*sh.Options)) (*sh.BatchImportFindingsOutput, error)
}

// BatchSize is the most findings one BatchImportFindings call takes.
const BatchSize = 100

// maxFilterValues is how many account IDs one GetFindings call filters on.
const maxFilterValues = 20

// Options tune an Export.
type Options struct {
	// ProductARN is the product whose findings Export looks up to update
	// and resolve: report.ASFFProductARN of the account the client acts
	// in. Required when Accounts is not empty.
	ProductARN string
	// Accounts are the accounts that were read completely. Their ACTIVE
	// keywarden findings (GeneratorId keywarden/…) under ProductARN that
	// are not among the findings exported are resolved. Findings in other
	// accounts are never resolved: leave an account that failed out.
	Accounts []string
	// Now is the UpdatedAt of every finding imported; zero means the time
	// of the call. It is moved after a finding's UpdatedAt in Security Hub
	// if need be, so that the import counts as an update.
	Now time.Time
}

// Result counts what an Export did.
type Result struct {
	Imported int // findings of this scan created or updated (exempt ones, ARCHIVED, included)
	Resolved int // findings no longer found, imported again as PASSED and ARCHIVED
	Failed   int // findings Security Hub did not take; Failures says why
	Failures []Failure
}

// Failure is a finding that was not imported.
type Failure struct {
	ID      string
	Code    string
	Message string
}

// Add adds r2's counts and failures to r.
func (r *Result) Add(r2 Result) {
	r.Imported += r2.Imported
	r.Resolved += r2.Resolved
	r.Failed += r2.Failed
	r.Failures = append(r.Failures, r2.Failures...)
}

// Export imports findings into Security Hub through client, in calls of at
// most BatchSize findings, after looking up the ACTIVE keywarden findings
// of opts.Accounts: a finding already there keeps its CreatedAt and
// FirstObservedAt, and one no longer among findings is resolved.
//
// Findings Security Hub rejects are counted in the Result, with why. The
// error is for what stopped the export: the lookup failing (nothing is
// then imported), or a call failing (the findings not sent are then
// counted as failed too).
func Export(ctx context.Context, client API, findings []report.ASFFFinding, opts Options) (Result, error) {
	var res Result
	if len(opts.Accounts) > 0 && opts.ProductARN == "" {
		return res, errors.New("securityhub: no product ARN to look up the findings to resolve")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)

	existing, err := activeFindings(ctx, client, opts)
	if err != nil {
		return res, fmt.Errorf("look up keywarden's active findings in Security Hub: %w", err)
	}

	type item struct {
		finding  types.AwsSecurityFinding
		resolves bool
	}
	items := make([]item, 0, len(findings))
	current := make(map[string]bool, len(findings))
	for _, f := range findings {
		sf := toSDK(f)
		ex, ok := existing[f.ID]
		if ok {
			sf.CreatedAt = ex.CreatedAt
			if ex.FirstObservedAt != nil {
				sf.FirstObservedAt = ex.FirstObservedAt
			}
		}
		sf.UpdatedAt = aws.String(updatedAt(now, ex))
		current[f.ID] = true
		items = append(items, item{finding: sf})
	}
	for _, id := range slices.Sorted(maps.Keys(existing)) {
		if !current[id] {
			ex := existing[id]
			items = append(items, item{finding: resolved(ex, updatedAt(now, ex)), resolves: true})
		}
	}

	for start := 0; start < len(items); start += BatchSize {
		batch := items[start:min(start+BatchSize, len(items))]
		in := &sh.BatchImportFindingsInput{Findings: make([]types.AwsSecurityFinding, len(batch))}
		for i, it := range batch {
			in.Findings[i] = it.finding
		}
		out, err := client.BatchImportFindings(ctx, in)
		if err != nil {
			code := "RequestFailed"
			var ae smithy.APIError
			if errors.As(err, &ae) {
				code = ae.ErrorCode()
			}
			for _, it := range items[start:] {
				res.Failures = append(res.Failures, Failure{ID: aws.ToString(it.finding.Id), Code: code, Message: err.Error()})
			}
			res.Failed = len(res.Failures)
			return res, fmt.Errorf("import findings %d to %d of %d into Security Hub: %w", start+1, len(items), len(items), err)
		}
		failed := make(map[string]types.ImportFindingsError, len(out.FailedFindings))
		for _, ff := range out.FailedFindings {
			failed[aws.ToString(ff.Id)] = ff
		}
		for _, it := range batch {
			id := aws.ToString(it.finding.Id)
			if ff, ok := failed[id]; ok {
				res.Failures = append(res.Failures, Failure{ID: id, Code: aws.ToString(ff.ErrorCode), Message: aws.ToString(ff.ErrorMessage)})
				continue
			}
			if it.resolves {
				res.Resolved++
			} else {
				res.Imported++
			}
		}
	}
	res.Failed = len(res.Failures)
	return res, nil
}

// activeFindings returns, by Id, the ACTIVE keywarden findings under
// opts.ProductARN in opts.Accounts. The filters are checked again here:
// an emulator may ignore them (moto does).
func activeFindings(ctx context.Context, client API, opts Options) (map[string]types.AwsSecurityFinding, error) {
	out := map[string]types.AwsSecurityFinding{}
	accounts := map[string]bool{}
	for _, a := range opts.Accounts {
		accounts[a] = true
	}
	eq := func(v string) types.StringFilter {
		return types.StringFilter{Comparison: types.StringFilterComparisonEquals, Value: aws.String(v)}
	}
	for chunk := range slices.Chunk(slices.Sorted(maps.Keys(accounts)), maxFilterValues) {
		filters := &types.AwsSecurityFindingFilters{
			ProductArn:  []types.StringFilter{eq(opts.ProductARN)},
			GeneratorId: []types.StringFilter{{Comparison: types.StringFilterComparisonPrefix, Value: aws.String(report.ASFFGeneratorPrefix)}},
			RecordState: []types.StringFilter{eq(string(types.RecordStateActive))},
		}
		for _, a := range chunk {
			filters.AwsAccountId = append(filters.AwsAccountId, eq(a))
		}
		p := sh.NewGetFindingsPaginator(client, &sh.GetFindingsInput{Filters: filters, MaxResults: aws.Int32(100)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, f := range page.Findings {
				if aws.ToString(f.ProductArn) == opts.ProductARN &&
					strings.HasPrefix(aws.ToString(f.GeneratorId), report.ASFFGeneratorPrefix) &&
					f.RecordState == types.RecordStateActive &&
					accounts[aws.ToString(f.AwsAccountId)] {
					out[aws.ToString(f.Id)] = f
				}
			}
		}
	}
	return out, nil
}

// updatedAt is now, or a second after the finding's UpdatedAt in Security
// Hub when that is not before now: an import that does not move UpdatedAt
// forward may be taken as stale.
func updatedAt(now time.Time, existing types.AwsSecurityFinding) string {
	if t, err := time.Parse(time.RFC3339, aws.ToString(existing.UpdatedAt)); err == nil && !t.Before(now) {
		now = t.UTC().Truncate(time.Second).Add(time.Second)
	}
	return now.Format(time.RFC3339)
}

// resolved is the finding ex, found by an earlier import, as it is imported
// again once the key no longer breaks the rule: PASSED, ARCHIVED and
// INFORMATIONAL, with keywarden/resolved_at. Fields that Security Hub sets
// itself (ProductFields under aws/, Workflow, Note, …) are not sent.
func resolved(ex types.AwsSecurityFinding, at string) types.AwsSecurityFinding {
	var reqs []string
	if ex.Compliance != nil {
		reqs = ex.Compliance.RelatedRequirements
	}
	var original *string
	if ex.FindingProviderFields != nil && ex.FindingProviderFields.Severity != nil {
		original = ex.FindingProviderFields.Severity.Original
	} else if ex.Severity != nil {
		original = ex.Severity.Original
	}
	fields := map[string]string{}
	for k, v := range ex.ProductFields {
		if !strings.HasPrefix(k, "aws/") {
			fields[k] = v
		}
	}
	fields["keywarden/resolved_at"] = at
	return types.AwsSecurityFinding{
		SchemaVersion:   ex.SchemaVersion,
		Id:              ex.Id,
		ProductArn:      ex.ProductArn,
		ProductName:     ex.ProductName,
		CompanyName:     ex.CompanyName,
		GeneratorId:     ex.GeneratorId,
		AwsAccountId:    ex.AwsAccountId,
		Types:           ex.Types,
		FirstObservedAt: ex.FirstObservedAt,
		LastObservedAt:  ex.LastObservedAt,
		CreatedAt:       ex.CreatedAt,
		UpdatedAt:       aws.String(at),
		Severity:        &types.Severity{Label: types.SeverityLabelInformational, Original: original},
		Title:           ex.Title,
		Description:     ex.Description,
		Remediation:     ex.Remediation,
		ProductFields:   fields,
		Resources:       ex.Resources,
		Compliance:      &types.Compliance{Status: types.ComplianceStatusPassed, RelatedRequirements: reqs},
		FindingProviderFields: &types.FindingProviderFields{
			Severity: &types.FindingProviderSeverity{Label: types.SeverityLabelInformational, Original: original},
			Types:    ex.Types,
		},
		RecordState: types.RecordStateArchived,
	}
}

// toSDK is f as the SDK sends it.
func toSDK(f report.ASFFFinding) types.AwsSecurityFinding {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return aws.String(s)
	}
	sf := types.AwsSecurityFinding{
		SchemaVersion:   str(f.SchemaVersion),
		Id:              str(f.ID),
		ProductArn:      str(f.ProductARN),
		ProductName:     str(f.ProductName),
		CompanyName:     str(f.CompanyName),
		GeneratorId:     str(f.GeneratorID),
		AwsAccountId:    str(f.AWSAccountID),
		Types:           f.Types,
		FirstObservedAt: str(f.FirstObservedAt),
		LastObservedAt:  str(f.LastObservedAt),
		CreatedAt:       str(f.CreatedAt),
		UpdatedAt:       str(f.UpdatedAt),
		Severity:        &types.Severity{Label: types.SeverityLabel(f.Severity.Label), Original: str(f.Severity.Original)},
		Title:           str(f.Title),
		Description:     str(f.Description),
		Remediation:     &types.Remediation{Recommendation: &types.Recommendation{Text: str(f.Remediation.Recommendation.Text)}},
		ProductFields:   f.ProductFields,
		Compliance: &types.Compliance{
			Status:              types.ComplianceStatus(f.Compliance.Status),
			RelatedRequirements: f.Compliance.RelatedRequirements,
		},
		FindingProviderFields: &types.FindingProviderFields{
			Severity: &types.FindingProviderSeverity{
				Label:    types.SeverityLabel(f.FindingProviderFields.Severity.Label),
				Original: str(f.FindingProviderFields.Severity.Original),
			},
			Types: f.FindingProviderFields.Types,
		},
		RecordState: types.RecordState(f.RecordState),
	}
	for _, r := range f.Resources {
		sr := types.Resource{Type: str(r.Type), Id: str(r.ID), Partition: types.Partition(r.Partition), Region: str(r.Region)}
		if d := r.Details; d != nil {
			sr.Details = &types.ResourceDetails{}
			if k := d.AWSIAMAccessKey; k != nil {
				sr.Details.AwsIamAccessKey = &types.AwsIamAccessKeyDetails{
					AccessKeyId: str(k.AccessKeyID), AccountId: str(k.AccountID), CreatedAt: str(k.CreatedAt),
					PrincipalName: str(k.PrincipalName), PrincipalType: str(k.PrincipalType),
				}
			}
			if u := d.AWSIAMUser; u != nil {
				sr.Details.AwsIamUser = &types.AwsIamUserDetails{UserName: str(u.UserName)}
			}
		}
		sf.Resources = append(sf.Resources, sr)
	}
	return sf
}
