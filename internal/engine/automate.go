package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/store"
)

// Run triggers, as a RunSummary and a snapshot record them.
const (
	TriggerSchedule = "schedule" // the policy's automation schedule
	TriggerManual   = "manual"   // invoked by hand (the Lambda)
	TriggerAPI      = "api"      // POST /api/v1/runs of keywarden serve
)

// Run statuses of a RunSummary.
const (
	StatusOK      = "ok"
	StatusPartial = "partial" // some accounts not read completely: no action in them
	StatusRefused = "refused" // over the safety limits, another apply held the lock, no act role, or the clock off: nothing changed
	StatusStopped = "stopped" // the deadline came, or a shutdown: the next run goes on
	StatusFailed  = "failed"  // some actions failed
)

// RunSummary is one unattended run: what the Lambda logs and returns, and
// what keywarden serve shows and counts.
type RunSummary struct {
	RunID   string `json:"run_id"`
	Trigger string `json:"trigger"` // schedule, manual or api
	Mode    string `json:"mode"`    // report or enforce
	// Status: ok; partial (some accounts not read completely: no action
	// in them); refused (the plan was over the safety limits: nothing
	// changed); stopped (the deadline came: the next run goes on); failed
	// (some actions failed).
	Status             string         `json:"status"`
	Caller             string         `json:"caller"`
	Accounts           int            `json:"accounts"`
	AccountsIncomplete int            `json:"accounts_incomplete"`
	Keys               int            `json:"keys"`
	Findings           int            `json:"findings"`
	FindingsByRule     map[string]int `json:"findings_by_rule"`
	FindingsBySeverity map[string]int `json:"findings_by_severity"`
	Planned            map[string]int `json:"planned"`  // actions by type
	Actions            map[string]int `json:"actions"`  // actions by outcome
	Withheld           int            `json:"withheld"` // by the guards
	Notifications      *NotifyCounts  `json:"notifications,omitempty"`
	SecurityHub        *ExportCounts  `json:"security_hub,omitempty"`
	Reports            []string       `json:"reports,omitempty"`
	APICalls           int            `json:"api_calls"`
	// AccountErrors counts the accounts not read completely, by the AWS
	// error code behind it.
	AccountErrors map[string]int `json:"account_errors,omitempty"`
	DurationMS    int64          `json:"duration_ms"`
	Problems      []string       `json:"problems,omitempty"`
}

// NotifyCounts is what became of the notifications.
type NotifyCounts struct {
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Queued  int `json:"queued"`
	Retried int `json:"retried"`
}

// ExportCounts is what the Security Hub export did.
type ExportCounts struct {
	Imported int `json:"imported"`
	Resolved int `json:"resolved"`
	Failed   int `json:"failed"`
}

// AutomationRequest is one run of the policy's automation section.
type AutomationRequest struct {
	// Trigger is recorded in the summary and the snapshot.
	Trigger string
	// Mode is report or enforce; "" is the policy's. A run may always be
	// narrowed to report; only the policy enforces.
	Mode string
	// Read tunes the reads. Its selection, if it selects any account
	// (a command line's --org, --ou or --accounts), replaces the policy's
	// accounts section; otherwise that section says which accounts.
	Read Read
	// Deadline, if set, is when the apply must stop starting actions.
	Deadline time.Time
	// Stop, once closed, ends the run early: the scan is abandoned, or the
	// apply finishes the action in progress, journals it and stops.
	Stop <-chan struct{}
	// ProductVersion is keywarden's version, for Security Hub.
	ProductVersion string
	// Keep, if more than zero, is how many snapshots to keep at most;
	// older ones than the policy's snapshot_retention go anyway.
	Keep int
}

// ErrEnforceNotAllowed is returned when a request asks for enforce mode
// while the policy says report.
var ErrEnforceNotAllowed = errors.New("enforcing is set in the policy's automation section, not per run")

// Automate does what the policy's automation section asks, once: it scans
// and plans, keeps a snapshot of what it found, then sends the warnings
// (report) or applies the plan within the safety limits (enforce), and
// exports to Security Hub and writes reports to S3 when asked. What fails
// after the scan is a problem in the summary, not an error.
func (e *Engine) Automate(ctx context.Context, req AutomationRequest) (*RunSummary, error) {
	start := e.now()
	pol := e.Policy
	sum := &RunSummary{RunID: e.Hub.RunID, Caller: e.Hub.CallerARN, Trigger: req.Trigger, Status: StatusOK,
		FindingsByRule: map[string]int{}, FindingsBySeverity: map[string]int{}, Planned: map[string]int{}, Actions: map[string]int{}}
	sum.Mode = pol.Automation.Mode
	if sum.Mode == "" {
		sum.Mode = policy.ModeReport
	}
	switch req.Mode {
	case "", sum.Mode:
	case policy.ModeReport:
		sum.Mode = policy.ModeReport
	default:
		return nil, fmt.Errorf("mode %q: %w", req.Mode, ErrEnforceNotAllowed)
	}
	read := req.Read
	if sel := read.Selection; !sel.Organization && len(sel.OUs) == 0 && len(sel.Accounts) == 0 {
		read.Selection = inventory.Selection{Organization: pol.Accounts.Organization, OUs: pol.Accounts.OUs,
			Accounts: pol.Accounts.Accounts, Exclude: pol.Accounts.Exclude}
	}

	// Enforce: rotations that dead runs left half done are finished before
	// the scan, so that the plan sees no orphan key (report never writes).
	if sum.Mode == policy.ModeEnforce && e.Store != nil {
		rec, err := e.recoverRotations(ctx)
		switch {
		case errors.Is(err, store.ErrLocked):
			// The apply is refused for it below, and says so.
		case err != nil:
			sum.Problems = append(sum.Problems, err.Error())
		default:
			sum.Problems = append(sum.Problems, rec.Left...)
		}
	}

	scanCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if req.Stop != nil {
		go func() {
			select {
			case <-req.Stop:
				cancel(remediate.ErrStopped)
			case <-scanCtx.Done():
			}
		}()
	}
	planned, err := e.Plan(scanCtx, read)
	if err != nil {
		if cause := context.Cause(scanCtx); errors.Is(cause, remediate.ErrStopped) {
			return nil, fmt.Errorf("scan: %w", cause)
		}
		return nil, err
	}
	cancel(nil)
	summarizeScan(sum, planned)

	if e.Store != nil {
		snap := SnapshotOf(planned.Scan, sum.RunID, sum.Trigger, sum.Mode, pol.Hash)
		if err := e.Store.SaveSnapshot(context.WithoutCancel(ctx), snap); err != nil {
			sum.Problems = append(sum.Problems, "keep the snapshot: "+err.Error())
		} else if n, err := e.Store.PruneSnapshots(context.WithoutCancel(ctx), e.retention(req.Keep)); err != nil {
			sum.Problems = append(sum.Problems, "prune old snapshots: "+err.Error())
		} else if n > 0 {
			e.log().Info("pruned old snapshots", "deleted", n)
		}
	}

	plan := planned.Plan
	if sum.Mode == policy.ModeReport {
		// Report: the warnings the stages call for, and nothing else.
		warnings := *plan
		warnings.Actions = nil
		for _, a := range plan.Actions {
			if a.Type == remediate.Notify {
				warnings.Actions = append(warnings.Actions, a)
			}
		}
		plan = &warnings
	}
	res, err := e.Apply(ctx, ApplyRequest{Plan: plan, Scan: planned.Scan, Deadline: req.Deadline, Stop: req.Stop})
	switch {
	case errors.Is(err, ErrNothingToApply):
	case errors.Is(err, remediate.ErrOverLimits), errors.Is(err, store.ErrLocked), errors.Is(err, ErrNoActRole),
		errors.Is(err, ErrClockSkew):
		sum.Status = StatusRefused
		sum.Problems = append(sum.Problems, err.Error())
	case errors.Is(err, remediate.ErrDeadline), errors.Is(err, remediate.ErrStopped):
		sum.Status = StatusStopped
		sum.Problems = append(sum.Problems, err.Error())
	case err != nil:
		return nil, err
	}
	if res != nil {
		summarizeApply(sum, res)
	}
	if pol.Automation.SecurityHub {
		ex, err := e.ExportScan(ctx, planned.Scan, req.ProductVersion, 0)
		if err != nil {
			sum.Problems = append(sum.Problems, "security hub: "+err.Error())
		}
		if ex != nil {
			t := ex.Total()
			sum.SecurityHub = &ExportCounts{Imported: t.Imported, Resolved: t.Resolved, Failed: t.Failed}
			for _, a := range ex.Accounts {
				if a.Err != nil {
					sum.Problems = append(sum.Problems, "security hub of "+a.AccountID+": "+a.Err.Error())
				}
			}
		}
	}
	if pol.Automation.ReportsS3 != "" {
		uris, err := writeReports(ctx, e.Hub.Base, pol.Automation.ReportsS3, sum.RunID, planned.Scan)
		sum.Reports = uris
		if err != nil {
			sum.Problems = append(sum.Problems, err.Error())
		}
	}
	sum.DurationMS = e.now().Sub(start).Milliseconds()
	return sum, nil
}

// retention is what the policy and keep say to prune.
func (e *Engine) retention(keep int) store.Retention {
	r := store.Retention{Keep: keep}
	if age := e.Policy.Automation.SnapshotMaxAge(); age > 0 {
		r.Before = e.now().Add(-age)
	}
	return r
}

// SnapshotOf is what the state store keeps of a scan: its accounts with
// their key counts, and its findings (never a secret).
func SnapshotOf(sc *ScanResult, runID, trigger, mode, policyHash string) store.Snapshot {
	snap := store.Snapshot{RunID: runID, At: sc.AsOf, Trigger: trigger, Mode: mode, PolicyHash: policyHash}
	findings := map[string]int{}
	for _, f := range sc.Findings {
		if !f.Exempt {
			findings[f.AccountID]++
		}
	}
	ous := map[string]string{}
	for _, a := range sc.Inventory.Accounts {
		sa := store.SnapshotAccount{ID: a.Account.ID, Name: a.Account.Name, OUPath: a.Account.OUPath,
			Status: string(a.Status), Error: a.Error, Users: len(a.Users), Findings: findings[a.Account.ID]}
		ous[a.Account.ID] = a.Account.OUPath
		for _, u := range a.Users {
			for _, k := range u.Keys {
				if k.Active() {
					sa.KeysActive++
				} else {
					sa.KeysInactive++
				}
			}
		}
		sa.RootKeys = len(a.Root.Keys)
		if sa.RootKeys == 0 && a.Root.KeysPresent {
			sa.RootKeys = 1 // GetAccountSummary says only that there is one or more
		}
		snap.Accounts = append(snap.Accounts, sa)
	}
	for _, f := range sc.Findings {
		snap.Findings = append(snap.Findings, store.SnapshotFinding{
			AccountID: f.AccountID, AccountName: f.AccountName, OUPath: ous[f.AccountID], UserName: f.UserName, AccessKeyID: f.AccessKeyID,
			Rule: string(f.Rule), Severity: string(f.Severity), Stage: string(f.Stage), DueAt: f.DueAt,
			NextStage: string(f.NextStage), NextStageAt: f.NextStageAt, Exempt: f.Exempt, ExemptReason: f.ExemptionReason,
			KeyStatus: f.KeyStatus, KeyCreatedAt: f.KeyCreatedAt, KeyLastUsedAt: f.KeyLastUsed, Message: f.Message,
		})
	}
	snap.Counts = store.SnapshotCounts(snap.Findings)
	return snap
}

func summarizeScan(sum *RunSummary, p *PlanResult) {
	inv := p.Scan.Inventory
	sum.Accounts = len(inv.Accounts)
	sum.AccountsIncomplete = len(inv.Incomplete())
	if sum.AccountsIncomplete > 0 {
		sum.Status = StatusPartial
		sum.AccountErrors = map[string]int{}
		for _, a := range inv.Incomplete() {
			sum.Problems = append(sum.Problems, "account "+a.Account.ID+" ("+string(a.Status)+"): "+a.Error)
			code := a.ErrorCode
			if code == "" {
				code = "unknown"
			}
			sum.AccountErrors[code]++
		}
	}
	for _, a := range inv.Accounts {
		sum.APICalls += a.Calls
		for _, u := range a.Users {
			sum.Keys += len(u.Keys)
		}
	}
	for _, f := range p.Scan.Findings {
		if f.Exempt {
			continue
		}
		sum.Findings++
		sum.FindingsByRule[string(f.Rule)]++
		sum.FindingsBySeverity[string(f.Severity)]++
	}
	for _, a := range p.Plan.Actions {
		sum.Planned[a.Type]++
	}
	sum.Withheld = len(p.Plan.Withheld)
}

func summarizeApply(sum *RunSummary, res *ApplyResult) {
	if res.Outcome != nil {
		for outcome, n := range res.Outcome.Counts() {
			sum.Actions[outcome] += n
		}
		if sum.Actions[store.OutcomeFailed] > 0 && sum.Status == StatusOK {
			sum.Status = StatusFailed
		}
	}
	if n := res.Notifications; n != nil {
		sum.Notifications = &NotifyCounts{Sent: n.Sent, Failed: n.Failed, Queued: n.Queued + n.StillQueued, Retried: n.Retried}
		sum.Problems = append(sum.Problems, n.Problems...)
		sum.Problems = append(sum.Problems, n.Failures...)
	}
}

// writeReports puts the HTML and JSON reports of a scan under an S3
// prefix, one folder per run.
func writeReports(ctx context.Context, cfg aws.Config, target, runID string, sc *ScanResult) ([]string, error) {
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(target, "s3://"), "/")
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	doc := sc.Document(time.Time{})
	client := s3.NewFromConfig(cfg)
	var uris []string
	for _, f := range []struct {
		format      report.Format
		name, ctype string
	}{{report.FormatHTML, "keywarden.html", "text/html; charset=utf-8"}, {report.FormatJSON, "keywarden.json", "application/json"}} {
		var buf bytes.Buffer
		if err := report.Render(&buf, doc, f.format); err != nil {
			return uris, fmt.Errorf("render the %s report: %w", f.format, err)
		}
		key := prefix + runID + "/" + f.name
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(buf.Bytes()), ContentType: aws.String(f.ctype)}); err != nil {
			return uris, fmt.Errorf("write the report to s3://%s/%s: %w", bucket, key, err)
		}
		uris = append(uris, "s3://"+bucket+"/"+key)
	}
	return uris, nil
}
