package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/report"
)

// ScanOptions are the flags of "keywarden scan".
type ScanOptions struct {
	Organization    bool
	OUs             []string
	Accounts        []string
	ExcludeAccounts []string
	RoleName        string
	ExternalID      string
	HubViaRole      bool

	Source         string
	KeyIDs         string
	Parallel       int
	AccountTimeout time.Duration

	Format string
	Output string
	AsOf   string

	Profile string
	Region  string

	Config string
	FailOn string

	// changed reports whether a flag was given on the command line; the
	// policy file's accounts section fills in those that were not.
	changed func(flag string) bool
	// builtinPolicy skips looking for keywarden.yaml when Config is empty.
	builtinPolicy bool
}

func newScanCommand(g *GlobalOptions) *cobra.Command {
	opts := ScanOptions{}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Inventory every access key in the selected accounts (read-only)",
		Long: `Inventory every IAM access key in the selected accounts: its user, status,
age and last use. Scanning only reads; it never changes anything.

Accounts: --org reads every ACTIVE account of the AWS Organization (run it
from the management account or a delegated administrator), --ou narrows that
to OUs and everything below them, --accounts lists accounts explicitly;
without any of these, the caller's own account is read. In each account
keywarden assumes the role --role-name (the caller's own account is read with
the caller's credentials unless --hub-via-role).

Keys are read from the IAM credential report (a handful of calls per
account; the report can be up to four hours old, and the output says how
old), or with --source api from the IAM API (fresh, a few calls per user).
When the report is denied or not ready, keywarden falls back to the API and
says so. The report has no key IDs: they are read for the keys that need
attention (--key-ids).

One account failing (access denied, throttled out, timed out) is reported
with its reason and the others go on; the exit code is then 3.

AWS credentials and endpoints come from the standard AWS configuration:
profiles, SSO, environment variables, AWS_ENDPOINT_URL.`,
		Example: `  keywarden scan
  keywarden scan --org --format json --output keys.json
  keywarden scan --ou ou-ab12-34cd56ef --exclude-accounts 111111111111
  keywarden scan --accounts 111111111111,222222222222 --source api
  keywarden scan --org --as-of 2027-01-31 --format csv`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.changed = cmd.Flags().Changed
			return runScan(cmd.Context(), opts, g.Logger, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addScanFlags(cmd, &opts)
	f := cmd.Flags()
	f.StringVar(&opts.FailOn, "fail-on", "none", "exit 4 when a finding not exempt is at or above this `level`: none, warn (any), info, low, medium, high, critical")
	f.StringVar(&opts.KeyIDs, "key-ids", "attention", "on the report path, read key IDs for keys needing `attention`, for all, or none")
	f.StringVar(&opts.Format, "format", "table", "output `format`: table, json, csv, html (one self-contained page), markdown (for CI summaries), asff (AWS Security Hub) or ocsf (OCSF events, one per line)")
	f.StringVarP(&opts.Output, "output", "o", "", "write the output to this `file` instead of stdout")
	return cmd
}

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)
var ouIDPattern = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)

// scanPlan is ScanOptions checked and parsed.
type scanPlan struct {
	selection  inventory.Selection
	source     inventory.Source
	needIDs    inventory.NeedKeyIDs
	needIDsFor func(inventory.Account) inventory.NeedKeyIDs
	format     report.Format
	asOf       time.Time
	policy     *policy.Policy
	failOn     string
	roleName   string
	externalID string
	region     string // the AWS region calls are made in, for ASFF
}

// attentionHorizon is how far ahead the policy looks when it picks the keys
// whose IDs the report path reads: far enough for warnings to name them.
const attentionHorizon = 14 * 24 * time.Hour

func (o ScanOptions) parse() (*scanPlan, error) {
	usage := func(format string, args ...any) error {
		return &UsageError{Command: "keywarden scan", Err: fmt.Errorf(format, args...)}
	}
	pol := policy.Default()
	if o.Config != "" || !o.builtinPolicy {
		var err error
		if pol, err = policy.LoadDefault(o.Config, "."); err != nil {
			return nil, err
		}
	}
	o = o.withPolicy(pol)
	p := &scanPlan{policy: pol, roleName: o.RoleName, externalID: o.ExternalID, selection: inventory.Selection{
		Organization: o.Organization, OUs: o.OUs, Accounts: o.Accounts, Exclude: o.ExcludeAccounts,
	}}
	switch o.FailOn {
	case "none", "warn", "info", "low", "medium", "high", "critical":
		p.failOn = o.FailOn
	default:
		return nil, usage("--fail-on %q: want none, warn, info, low, medium, high or critical", o.FailOn)
	}
	for _, f := range []struct {
		flag string
		ids  []string
	}{{"--accounts", o.Accounts}, {"--exclude-accounts", o.ExcludeAccounts}} {
		for _, id := range f.ids {
			if !accountIDPattern.MatchString(id) {
				return nil, usage("%s %q: not an account ID (12 digits)", f.flag, id)
			}
		}
	}
	for _, ou := range o.OUs {
		if !ouIDPattern.MatchString(ou) {
			return nil, usage("--ou %q: not an OU ID (ou-xxxx-xxxxxxxx)", ou)
		}
	}
	switch o.Source {
	case "report":
		p.source = inventory.SourceReport
	case "api":
		p.source = inventory.SourceAPI
	default:
		return nil, usage("--source %q: want report or api", o.Source)
	}
	switch o.KeyIDs {
	case "attention":
		p.needIDsFor = func(a inventory.Account) inventory.NeedKeyIDs { return pol.NeedKeyIDs(a, attentionHorizon) }
	case "all":
		p.needIDs = inventory.AllKeyIDs
	case "none":
		p.needIDs = inventory.NoKeyIDs
	default:
		return nil, usage("--key-ids %q: want attention, all or none", o.KeyIDs)
	}
	if o.Parallel < 1 || o.Parallel > 256 {
		return nil, usage("--parallel %d: want 1 to 256", o.Parallel)
	}
	if o.AccountTimeout <= 0 {
		return nil, usage("--account-timeout must be positive")
	}
	if o.RoleName == "" {
		return nil, usage("--role-name must not be empty")
	}
	f, err := report.ParseFormat(o.Format)
	if err != nil {
		return nil, usage("--format: %v", err)
	}
	p.format = f
	if o.AsOf != "" {
		t, err := parseDate(o.AsOf)
		if err != nil {
			return nil, usage("--as-of %q: %v", o.AsOf, err)
		}
		p.asOf = t
	}
	return p, nil
}

// withPolicy fills in, from the policy's accounts section, what the command
// line did not say: flags win over the file.
func (o ScanOptions) withPolicy(pol *policy.Policy) ScanOptions {
	changed := o.changed
	if changed == nil {
		changed = func(string) bool { return true }
	}
	ac := pol.Accounts
	// A selection on the command line replaces the file's whole selection:
	// `scan --accounts X` must never read the organization the file names.
	if !changed("org") && !changed("ou") && !changed("accounts") {
		o.Organization = ac.Organization
		o.OUs = ac.OUs
		o.Accounts = ac.Accounts
	}
	if !changed("exclude-accounts") && len(ac.Exclude) > 0 {
		o.ExcludeAccounts = ac.Exclude
	}
	if !changed("role-name") && ac.RoleName != "" {
		o.RoleName = ac.RoleName
	}
	if !changed("external-id") {
		env := ac.ExternalIDEnv
		if env == "" {
			env = "KEYWARDEN_EXTERNAL_ID"
		}
		o.ExternalID = os.Getenv(env)
	}
	return o
}

// parseDate reads YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want a date like 2027-01-31 or a time like 2027-01-31T12:00:00Z")
	}
	return t.UTC(), nil
}

// newRunID names one run in session names, logs and (later) the journal.
func newRunID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// scanResult is what a scan found, ready to render.
type scanResult struct {
	inv     *inventory.Inventory
	skipped []inventory.Account
}

// scanAccounts discovers the selected accounts and reads them.
func scanAccounts(ctx context.Context, o ScanOptions, p *scanPlan, base aws.Config, log *slog.Logger, stderr io.Writer) (*scanResult, error) {
	who, err := sts.NewFromConfig(base).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("identify the AWS caller (check your AWS credentials and AWS_ENDPOINT_URL): %w", err)
	}
	caller := aws.ToString(who.Account)
	log.Info("caller", "arn", aws.ToString(who.Arn))

	var org *organizations.Client
	if p.selection.UsesOrganization() || len(p.selection.Accounts) > 0 {
		org = organizations.NewFromConfig(base)
	}
	sel, err := inventory.Discover(ctx, org, caller, p.selection)
	if errors.Is(err, inventory.ErrNoOrganization) {
		return nil, fmt.Errorf("%w; --org and --ou need the management account or a delegated administrator (or list accounts with --accounts)", err)
	}
	if err != nil {
		return nil, err
	}
	for _, a := range sel.Skipped {
		fmt.Fprintf(stderr, "keywarden: skipping account %s (%s): it is %s\n", a.ID, a.Name, a.State)
	}
	if len(sel.Accounts) == 0 {
		return nil, errors.New("no accounts to read: the selection is empty")
	}

	runID := newRunID(time.Now())
	assumer := awsx.NewAssumer(base, awsx.AssumerOptions{
		RoleName: p.roleName, ExternalID: p.externalID, SessionName: awsx.SessionName("scan", runID),
	})
	configFor := func(id string, counter *awsx.CallCounter) aws.Config {
		if id == caller && !o.HubViaRole {
			cfg := base.Copy()
			cfg.APIOptions = append(cfg.APIOptions, counter.APIOption)
			return cfg
		}
		return assumer.Config(id, counter)
	}

	progress := newProgress(stderr)
	inv, err := inventory.Scan(ctx, sel.Accounts, configFor, inventory.Options{
		Source: p.source, Parallel: o.Parallel, AccountTimeout: o.AccountTimeout,
		NeedKeyIDs: p.needIDs, NeedKeyIDsFor: p.needIDsFor, AsOf: p.asOf, Progress: progress.update, Logger: log,
	})
	progress.finish()
	if err != nil {
		return nil, err
	}
	inv.Caller = aws.ToString(who.Arn)
	return &scanResult{inv: inv, skipped: sel.Skipped}, nil
}

func runScan(ctx context.Context, o ScanOptions, log *slog.Logger, stdout, stderr io.Writer) error {
	p, err := o.parse()
	if err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := awsx.Load(ctx, awsx.Options{Profile: o.Profile, Region: o.Region})
	if err != nil {
		return err
	}
	p.region = base.Region
	res, err := scanAccounts(ctx, o, p, base, log, stderr)
	if err != nil {
		return err
	}
	return writeScan(res.inv, p, o.Output, stdout)
}

// writeScan judges the inventory, renders it, and reports failed accounts
// as ErrPartial and findings at or above --fail-on as ErrFindings.
func writeScan(inv *inventory.Inventory, p *scanPlan, output string, stdout io.Writer) error {
	asOf := p.asOf
	if asOf.IsZero() {
		asOf = inv.FinishedAt
	}
	findings := p.policy.Evaluate(inv, policy.Options{AsOf: asOf})
	doc := report.Build(inv, report.BuildOptions{GeneratedAt: inv.FinishedAt, AsOf: p.asOf, Findings: reportFindings(findings)})
	if err := renderTo(output, stdout, func(w io.Writer) error { return renderScan(w, doc, p.format, p.region) }); err != nil {
		return err
	}
	if failed := inv.Failed(); len(failed) > 0 {
		return fmt.Errorf("%w: %d of %d accounts failed (%s)", ErrPartial, len(failed), len(inv.Accounts), failedSummary(failed))
	}
	if n := failing(findings, p.failOn); n > 0 {
		return fmt.Errorf("%w: %d at or above --fail-on %s", ErrFindings, n, p.failOn)
	}
	return nil
}

// failing counts the findings, not exempt, at or above level: "warn" is
// any finding at all, "none" never fails.
func failing(fs []policy.Finding, level string) int {
	n := 0
	for _, f := range fs {
		switch {
		case f.Exempt || level == "none":
		case level == "warn", f.Severity.AtLeast(policy.Severity(level)):
			n++
		}
	}
	return n
}

// reportFindings carries the policy's findings into the report.
func reportFindings(fs []policy.Finding) []report.Finding {
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

func failedSummary(failed []inventory.AccountInventory) string {
	var parts []string
	for i, a := range failed {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(failed)-3))
			break
		}
		parts = append(parts, a.Account.ID+": "+a.ErrorCode)
	}
	return strings.Join(parts, ", ")
}

// renderTo writes to the --output file (created with mode 0600, replaced
// only once the output is complete) or to stdout.
func renderTo(path string, stdout io.Writer, render func(io.Writer) error) error {
	if path == "" || path == "-" {
		return render(stdout)
	}
	tmp, err := os.CreateTemp(dirOf(path), ".keywarden-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := render(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// progress shows "accounts read: 12/200" on stderr while a scan runs, when
// stderr is a terminal.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	shown bool
}

func newProgress(stderr io.Writer) *progress {
	f, ok := stderr.(*os.File)
	return &progress{w: stderr, on: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) update(done, failed, total int) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("\rreading accounts: %d/%d", done, total)
	if failed > 0 {
		line += fmt.Sprintf(" (%d failed)", failed)
	}
	fmt.Fprint(p.w, line+"\x1b[K")
	p.shown = true
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
