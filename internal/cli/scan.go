package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// scanFlags are the flags of "keywarden scan".
type scanFlags struct {
	accountFlags
	out     outputFlags
	journal journalFlags
	FailOn  string
}

func newScanCommand(g *GlobalOptions) *cobra.Command {
	var o scanFlags
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
			return runScan(cmd, o, g.Logger)
		},
	}
	o.accountFlags.add(cmd, true)
	o.out.add(cmd, "table, json, csv, html (one self-contained page), markdown (for CI summaries), asff (AWS Security Hub) or ocsf (OCSF events, one per line)")
	o.journal.add(cmd)
	cmd.Flags().StringVar(&o.FailOn, "fail-on", "none", "exit 4 when a finding not exempt is at or above this `level`: none, warn (any), info, low, medium, high, critical")
	return cmd
}

// job is what every command that reads accounts sets up from its flags:
// the policy, how to read, and the engine over one hub session.
type job struct {
	pol  *policy.Policy
	read engine.Read
	role roleFlags
	eng  *engine.Engine
}

// prepare loads the policy and checks the selection, role and reading
// flags; nothing is called in AWS yet.
func prepare(cmd *cobra.Command, pf policyFlags, sf selectionFlags, rf roleFlags, rd readFlags) (*job, error) {
	pol, err := pf.load()
	if err != nil {
		return nil, err
	}
	j := &job{pol: pol}
	sel, err := sf.selection(cmd, pol)
	if err != nil {
		return nil, err
	}
	if j.role, err = rf.resolve(cmd, pol); err != nil {
		return nil, err
	}
	if j.read, err = rd.read(cmd, sel); err != nil {
		return nil, err
	}
	return j, nil
}

// connect identifies the caller once and builds the engine for the run.
func (j *job) connect(ctx context.Context, command string, af awsFlags, st store.Store, log *slog.Logger, base *awsx.Options) error {
	opts := awsx.Options{Profile: af.Profile, Region: af.Region, Logger: log}
	if base != nil {
		opts = *base
		opts.Logger = log
	}
	cfg, err := awsx.Load(ctx, opts)
	if err != nil {
		return err
	}
	hub, err := awsx.NewHub(ctx, cfg, awsx.HubOptions{Command: command, RoleName: j.role.RoleName, ActRoleName: j.role.ActRoleName,
		ExternalID: j.role.ExternalID, HubViaRole: j.role.HubViaRole})
	if err != nil {
		return err
	}
	log.Info("caller", "arn", hub.CallerARN, "run", hub.RunID)
	j.eng = &engine.Engine{Hub: hub, Policy: j.pol, Store: st, Log: log, Notify: engine.NotifyOptions{Delivery: notifyDelivery}}
	return nil
}

// connectState opens the state store and builds the engine over it; the
// caller closes the store.
func (j *job) connectState(ctx context.Context, command string, sf stateFlags, af awsFlags, log *slog.Logger) (store.Store, error) {
	st, err := openState(ctx, sf.State, af)
	if err != nil {
		return nil, err
	}
	if err := j.connect(ctx, command, af, st, log, nil); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// notifyDelivery tunes the delivery of notifications: the defaults of
// notify.Deliver (four attempts, backoff from two seconds). Tests shorten it.
var notifyDelivery = notify.DeliverOptions{}

func runScan(cmd *cobra.Command, o scanFlags, log *slog.Logger) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	switch o.FailOn {
	case "none", "warn", "info", "low", "medium", "high", "critical":
	default:
		return usagef(cmd, "--fail-on %q: want none, warn, info, low, medium, high or critical", o.FailOn)
	}
	format, err := o.out.check(cmd)
	if err != nil {
		return err
	}
	j, err := o.prepare(cmd)
	if err != nil {
		return err
	}
	st, err := o.journal.open(ctx, o.aws)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	if err := j.connect(ctx, "scan", o.aws, st, log, nil); err != nil {
		return err
	}
	res, err := scanWithProgress(ctx, j.eng, j.read, stderr)
	if err != nil {
		return err
	}
	if err := j.eng.ReadRotations(ctx, res); err != nil {
		return err
	}
	return writeScan(res, j.read.AsOf, format, o.out.Output, j.eng.Hub.Base.Region, o.FailOn, stdout)
}

// scanWithProgress scans, showing progress on a terminal and saying which
// selected accounts are skipped.
func scanWithProgress(ctx context.Context, eng *engine.Engine, r engine.Read, stderr io.Writer) (*engine.ScanResult, error) {
	progress := newProgress(stderr)
	r.Progress = progress.update
	res, err := eng.Scan(ctx, r)
	progress.finish()
	if err != nil {
		return nil, err
	}
	for _, a := range res.Skipped {
		fmt.Fprintf(stderr, "keywarden: skipping account %s (%s): it is %s\n", a.ID, a.Name, a.State)
	}
	return res, nil
}

// writeScan renders a scan, and reports accounts not read completely
// (failed or partial) as ErrPartial and findings at or above failOn as
// ErrFindings.
// asOf is the --as-of date, zero when not given.
func writeScan(res *engine.ScanResult, asOf time.Time, format report.Format, path, region, failOn string, stdout io.Writer) error {
	doc := res.Document(asOf)
	if err := output.Write(path, stdout, func(w io.Writer) error { return renderScan(w, doc, format, region) }); err != nil {
		return err
	}
	inv := res.Inventory
	if failed := inv.Incomplete(); len(failed) > 0 {
		return fmt.Errorf("%w: %s (%s)", ErrPartial, incompleteCount(failed, len(inv.Accounts)), failedSummary(failed))
	}
	if n := failing(res.Findings, failOn); n > 0 {
		return fmt.Errorf("%w: %d at or above --fail-on %s", ErrFindings, n, failOn)
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

// incompleteCount says how many of total accounts were not read
// completely: "1 of 6 accounts failed", "1 of 6 accounts were read in
// part", "2 of 6 accounts failed or were read in part".
func incompleteCount(incomplete []inventory.AccountInventory, total int) string {
	failed := 0
	for _, a := range incomplete {
		if a.Status == inventory.AccountFailed {
			failed++
		}
	}
	what := "failed or were read in part"
	switch failed {
	case len(incomplete):
		what = "failed"
	case 0:
		what = "were read in part"
	}
	return fmt.Sprintf("%d of %d accounts %s", len(incomplete), total, what)
}

// failedSummary names the first accounts not read completely with why:
// "111111111111: AccessDenied" for a failed one, "222222222222: root
// access keys not checked (AccessDenied)" for a partial one.
func failedSummary(failed []inventory.AccountInventory) string {
	var parts []string
	for i, a := range failed {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(failed)-3))
			break
		}
		if a.Status == inventory.AccountPartial {
			parts = append(parts, a.Account.ID+": "+a.NotRead+" not checked ("+a.ErrorCode+")")
			continue
		}
		parts = append(parts, a.Account.ID+": "+a.ErrorCode)
	}
	return strings.Join(parts, ", ")
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

// planWithProgress plans, showing the scan's progress on a terminal.
func planWithProgress(ctx context.Context, j *job, stderr io.Writer) (*engine.PlanResult, error) {
	progress := newProgress(stderr)
	r := j.read
	r.Progress = progress.update
	res, err := j.eng.Plan(ctx, r)
	progress.finish()
	if err != nil {
		return nil, err
	}
	for _, a := range res.Scan.Skipped {
		fmt.Fprintf(stderr, "keywarden: skipping account %s (%s): it is %s\n", a.ID, a.Name, a.State)
	}
	return res, nil
}

// journalFlags name a state store that a read-only command reads, never
// writes: where the rotations under way are.
type journalFlags struct{ State string }

func (f *journalFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.State, "state", "", "read the rotations under way from this state `store` (a SQLite file or dynamodb://TABLE; default $KEYWARDEN_STATE if set); nothing is written to it")
}

// open opens the state store named, which must exist; nil when none is.
func (f journalFlags) open(ctx context.Context, af awsFlags) (store.Store, error) {
	path := f.State
	if path == "" {
		path = os.Getenv(sqlite.EnvState)
	}
	if path == "" {
		return nil, nil
	}
	return openExistingState(ctx, path, af)
}
