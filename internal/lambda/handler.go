// Package lambda runs keywarden as an AWS Lambda function on a schedule:
// the same binary, started by the provided.al2023 runtime when
// AWS_LAMBDA_RUNTIME_API is set. What a run does comes from the policy's
// automation section (report or enforce); its state is in the state store
// KEYWARDEN_STATE names, shared with the CLI (docs/lambda.md).
package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/store"
)

// Event is what triggers a run: an EventBridge scheduled event, or a manual
// invocation that may ask for a report-only run with {"mode": "report"}.
type Event struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Mode       string `json:"mode"`
}

// Summary is one run, logged as one record and returned as the response.
type Summary struct {
	RunID   string `json:"run_id"`
	Trigger string `json:"trigger"` // schedule or manual
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
	DurationMS         int64          `json:"duration_ms"`
	Problems           []string       `json:"problems,omitempty"`
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

// Options set up the handler; the zero value reads the real environment.
type Options struct {
	Getenv func(string) string
	// PackageDir is where the function's files are ($LAMBDA_TASK_ROOT).
	PackageDir string
	// AWS tunes the AWS configuration (tests point it at the sandbox).
	AWS            awsx.Options
	Log            *slog.Logger
	ProductVersion string
	// Instrument is given to the run's hub (awsx.HubOptions.Instrument).
	Instrument func(awsx.Role) func(*middleware.Stack) error
	// Reserve is the time kept before the deadline for the notifications
	// and the summary; zero means a minute, or a fifth of the time when
	// less than five minutes are given.
	Reserve time.Duration
}

// Start runs the handler in the Lambda runtime; it does not return.
func Start(version string) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	opts := Options{Getenv: os.Getenv, PackageDir: os.Getenv("LAMBDA_TASK_ROOT"), Log: log, ProductVersion: version}
	awslambda.Start(func(ctx context.Context, ev json.RawMessage) (*Summary, error) {
		return Handle(ctx, opts, ev)
	})
}

// Handle runs keywarden once for one event.
func Handle(ctx context.Context, o Options, raw json.RawMessage) (*Summary, error) {
	start := time.Now()
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var ev Event
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("read the event: %w", err)
		}
	}
	sum := &Summary{Trigger: "manual", FindingsByRule: map[string]int{}, FindingsBySeverity: map[string]int{},
		Planned: map[string]int{}, Actions: map[string]int{}, Status: "ok"}
	if ev.Source == "aws.events" || ev.DetailType == "Scheduled Event" {
		sum.Trigger = "schedule"
	}

	awsOpts := o.AWS
	awsOpts.Logger = o.Log
	cfg, err := awsx.Load(ctx, awsOpts)
	if err != nil {
		return nil, err
	}
	pol, err := loadPolicy(ctx, cfg, o.Getenv(EnvConfig), o.PackageDir)
	if err != nil {
		return nil, err
	}
	sum.Mode = pol.Automation.Mode
	switch ev.Mode {
	case "":
	case policy.ModeReport:
		sum.Mode = policy.ModeReport
	default:
		return nil, fmt.Errorf("the event asks for mode %q: an invocation may ask only for %q; enforcing is set in the policy's automation section", ev.Mode, policy.ModeReport)
	}
	stateSpec := o.Getenv(EnvState)
	if stateSpec == "" {
		return nil, fmt.Errorf("%s is not set: name the state store, dynamodb://TABLE", EnvState)
	}
	st, err := engine.OpenState(ctx, stateSpec, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	role, actRole := pol.Accounts.RoleName, pol.Accounts.ActRoleName
	if role == "" {
		role = policy.DefaultRoleName
	}
	if actRole == "" {
		actRole = policy.DefaultActRoleName
	}
	extEnv := pol.Accounts.ExternalIDEnv
	if extEnv == "" {
		extEnv = EnvExternalID
	}
	hub, err := awsx.NewHub(ctx, cfg, awsx.HubOptions{Command: "lambda", RoleName: role, ActRoleName: actRole, ExternalID: o.Getenv(extEnv),
		HubViaRole: o.Getenv(EnvHubViaRole) == "true", Instrument: o.Instrument})
	if err != nil {
		return nil, err
	}
	sum.RunID, sum.Caller = hub.RunID, hub.CallerARN
	eng := &engine.Engine{Hub: hub, Policy: pol, Store: st, Log: o.Log,
		// The notifications fit in the time kept before the deadline.
		Notify: engine.NotifyOptions{Timeout: 40 * time.Second, Delivery: notify.DeliverOptions{ChannelTimeout: 30 * time.Second}}}
	read := engine.Read{Selection: inventory.Selection{Organization: pol.Accounts.Organization, OUs: pol.Accounts.OUs,
		Accounts: pol.Accounts.Accounts, Exclude: pol.Accounts.Exclude}}

	planned, err := eng.Plan(ctx, read)
	if err != nil {
		return nil, err
	}
	summarizeScan(sum, planned)
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
	req := engine.ApplyRequest{Plan: plan, Scan: planned.Scan, Deadline: applyDeadline(ctx, o.Reserve)}
	res, err := eng.Apply(ctx, req)
	switch {
	case errors.Is(err, engine.ErrNothingToApply):
	case errors.Is(err, remediate.ErrOverLimits):
		sum.Status = "refused"
		sum.Problems = append(sum.Problems, err.Error())
	case errors.Is(err, remediate.ErrDeadline):
		sum.Status = "stopped"
		sum.Problems = append(sum.Problems, err.Error())
	case errors.Is(err, store.ErrLocked):
		sum.Status = "refused"
		sum.Problems = append(sum.Problems, err.Error())
	case err != nil:
		return nil, err
	}
	if res != nil {
		summarizeApply(sum, res)
	}
	if pol.Automation.SecurityHub {
		ex, err := eng.ExportScan(ctx, planned.Scan, o.ProductVersion, 0)
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
		uris, err := writeReports(ctx, cfg, pol.Automation.ReportsS3, hub.RunID, planned.Scan)
		sum.Reports = uris
		if err != nil {
			sum.Problems = append(sum.Problems, err.Error())
		}
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	o.Log.Info("summary", "summary", sum)
	return sum, nil
}

// applyDeadline is when the apply must stop starting actions: the
// invocation's deadline less what the notifications and the summary need.
func applyDeadline(ctx context.Context, reserve time.Duration) time.Time {
	deadline, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	if reserve <= 0 {
		reserve = time.Minute
		if left := time.Until(deadline); left < 5*time.Minute {
			reserve = left / 5
		}
	}
	return deadline.Add(-reserve)
}

func summarizeScan(sum *Summary, p *engine.PlanResult) {
	inv := p.Scan.Inventory
	sum.Accounts = len(inv.Accounts)
	sum.AccountsIncomplete = len(inv.Incomplete())
	if sum.AccountsIncomplete > 0 {
		sum.Status = "partial"
		for _, a := range inv.Incomplete() {
			sum.Problems = append(sum.Problems, "account "+a.Account.ID+" ("+string(a.Status)+"): "+a.Error)
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

func summarizeApply(sum *Summary, res *engine.ApplyResult) {
	if res.Outcome != nil {
		for outcome, n := range res.Outcome.Counts() {
			sum.Actions[outcome] += n
		}
		if sum.Actions[store.OutcomeFailed] > 0 && sum.Status == "ok" {
			sum.Status = "failed"
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
func writeReports(ctx context.Context, cfg aws.Config, target, runID string, sc *engine.ScanResult) ([]string, error) {
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
