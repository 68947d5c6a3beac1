package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// ErrChanges is returned by "plan --detailed-exitcode" when the plan would
// change keys (exit code 2, as Terraform's).
var ErrChanges = errors.New("the plan has changes")

// PlanOptions are the flags of "keywarden plan".
type PlanOptions struct {
	Scan             ScanOptions
	Out              string
	DetailedExitcode bool
	State            string
}

// addScanFlags adds the flags that select and read accounts, shared by
// scan, plan and apply.
func addScanFlags(cmd *cobra.Command, o *ScanOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Config, "config", "", "policy `file` (default keywarden.yaml in the working directory if present, else the built-in policy)")
	f.BoolVar(&o.Organization, "org", false, "read every ACTIVE account of the AWS Organization")
	f.StringArrayVar(&o.OUs, "ou", nil, "read the accounts in this `OU` and the OUs below it (repeatable)")
	f.StringSliceVar(&o.Accounts, "accounts", nil, "read these `account IDs` (comma-separated)")
	f.StringSliceVar(&o.ExcludeAccounts, "exclude-accounts", nil, "skip these `account IDs` (comma-separated)")
	f.StringVar(&o.RoleName, "role-name", "KeywardenSpoke", "`role` to assume in each member account")
	f.StringVar(&o.ExternalID, "external-id", "", "external `ID` the role requires (default $KEYWARDEN_EXTERNAL_ID)")
	f.BoolVar(&o.HubViaRole, "hub-via-role", false, "read (and act in) the caller's own account through the role too")
	f.StringVar(&o.Source, "source", "report", "read keys from the credential `report` or the IAM `api`")
	f.IntVar(&o.Parallel, "parallel", inventory.DefaultParallel, "read this many `accounts` at once")
	f.DurationVar(&o.AccountTimeout, "account-timeout", inventory.DefaultAccountTimeout, "give up on an account after this `duration`")
	f.StringVar(&o.AsOf, "as-of", "", "judge and compute ages as if it were this `date` (YYYY-MM-DD or RFC 3339)")
	f.StringVar(&o.Profile, "profile", "", "AWS shared config `profile` (default $AWS_PROFILE)")
	f.StringVar(&o.Region, "region", "", "AWS `region` for the API calls (default from the AWS configuration)")
	o.KeyIDs, o.Format, o.FailOn = "attention", "table", "none"
}

func addStateFlag(cmd *cobra.Command, state *string) {
	cmd.Flags().StringVar(state, "state", "", "state store `file` (default $KEYWARDEN_STATE, else ~/.config/keywarden/state.db)")
}

func newPlanCommand(g *GlobalOptions) *cobra.Command {
	var opts PlanOptions
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change, and save it as a plan (read-only)",
		Long: `Scan the selected accounts, judge every key by the policy, and turn the
findings into actions — deactivate, delete, notify — under the safety guards
(docs/safety.md). Print a summary and, with --out, save the plan as JSON for
'keywarden apply PLAN'. Planning never changes anything.

With --detailed-exitcode the exit code is 0 when the plan changes no key and
2 when it does.`,
		Example: `  keywarden plan --org --out plan.json
  keywarden apply plan.json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Scan.changed = cmd.Flags().Changed
			_, err := runPlan(cmd.Context(), opts, g.Logger, cmd.OutOrStdout(), cmd.ErrOrStderr())
			return err
		},
	}
	addScanFlags(cmd, &opts.Scan)
	addStateFlag(cmd, &opts.State)
	cmd.Flags().StringVar(&opts.Out, "out", "", "save the plan to this `file` (JSON)")
	cmd.Flags().BoolVar(&opts.DetailedExitcode, "detailed-exitcode", false, "exit 2 when the plan changes keys, 0 when it does not")
	return cmd
}

// openState opens the state store at path, or at the default place.
func openState(ctx context.Context, path string) (store.Store, error) {
	if path == "" {
		p, err := sqlite.DefaultPath()
		if err != nil {
			return nil, err // it says to set --state or KEYWARDEN_STATE
		}
		path = p
	}
	return sqlite.Open(ctx, path) // its errors name the path

}

// session is what plan, apply and undo share: the caller and how to act in
// each account.
type session struct {
	base        aws.Config
	caller      string
	callerAcct  string
	callerKeyID string
	runID       string
	assumer     *awsx.Assumer
	hubViaRole  bool
}

func newSession(ctx context.Context, base aws.Config, command, roleName, externalID string, hubViaRole bool) (*session, error) {
	who, err := stsCaller(ctx, base)
	if err != nil {
		return nil, err
	}
	creds, err := base.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the AWS credentials in use: %w", err)
	}
	s := &session{base: base, caller: who.arn, callerAcct: who.account, callerKeyID: creds.AccessKeyID,
		runID: newRunID(time.Now()), hubViaRole: hubViaRole}
	s.assumer = awsx.NewAssumer(base, awsx.AssumerOptions{RoleName: roleName, ExternalID: externalID,
		SessionName: awsx.SessionName(command, s.runID)})
	return s, nil
}

// config returns the configuration that acts in an account.
func (s *session) config(accountID string) aws.Config {
	if accountID == s.callerAcct && !s.hubViaRole {
		return s.base
	}
	return s.assumer.Config(accountID, nil)
}

func runPlan(ctx context.Context, o PlanOptions, log *slog.Logger, stdout, stderr io.Writer) (*remediate.Plan, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := o.Scan.parse()
	if err != nil {
		return nil, withCommand(err, "keywarden plan")
	}
	st, err := openState(ctx, o.State)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	base, err := awsx.Load(ctx, awsx.Options{Profile: o.Scan.Profile, Region: o.Scan.Region})
	if err != nil {
		return nil, err
	}
	plan, inv, err := makePlan(ctx, o.Scan, p, base, st, log, stderr)
	if err != nil {
		return nil, err
	}
	printPlan(stdout, plan)
	if o.Out != "" {
		if err := writePlan(o.Out, plan); err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "\nSaved the plan to %s. Apply it with: keywarden apply %s\n", o.Out, o.Out)
	} else if plan.Changes() {
		fmt.Fprintln(stdout, "\nNothing was changed. Save the plan with --out FILE, then run 'keywarden apply FILE'.")
	}
	if failed := inv.Failed(); len(failed) > 0 {
		return plan, fmt.Errorf("%w: %d of %d accounts failed and get no action (%s)", ErrPartial, len(failed), len(inv.Accounts), failedSummary(failed))
	}
	if o.DetailedExitcode && plan.Changes() {
		return plan, ErrChanges
	}
	return plan, nil
}

// makePlan scans, judges and plans.
func makePlan(ctx context.Context, o ScanOptions, p *scanPlan, base aws.Config, st store.Store, log *slog.Logger, stderr io.Writer) (*remediate.Plan, *inventory.Inventory, error) {
	res, err := scanAccounts(ctx, o, p, base, log, stderr)
	if err != nil {
		return nil, nil, err
	}
	sess, err := newSession(ctx, base, "plan", p.roleName, p.externalID, o.HubViaRole)
	if err != nil {
		return nil, nil, err
	}
	asOf := p.asOf
	if asOf.IsZero() {
		asOf = res.inv.FinishedAt
	}
	var journalErr error
	deactivatedAt := func(account, key string) (time.Time, bool) {
		t, ok, err := st.DeactivatedAt(ctx, account, key)
		if err != nil && journalErr == nil {
			journalErr = err
		}
		return t, ok
	}
	findings := p.policy.Evaluate(res.inv, policy.Options{AsOf: asOf, InactiveSince: deactivatedAt})
	if journalErr != nil {
		return nil, nil, fmt.Errorf("read the journal: %w", journalErr)
	}
	plan, err := remediate.Make(ctx, remediate.Inputs{
		Inventory: res.inv, Findings: findings, Policy: p.policy, AsOf: asOf, Now: time.Now(),
		Caller: sess.caller, CallerKeyID: sess.callerKeyID, DeactivatedAt: st.DeactivatedAt, RunID: sess.runID,
	})
	if err != nil {
		return nil, nil, err
	}
	return plan, res.inv, nil
}

type callerIdentity struct{ arn, account string }

func stsCaller(ctx context.Context, cfg aws.Config) (callerIdentity, error) {
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return callerIdentity{}, fmt.Errorf("identify the AWS caller (check your AWS credentials and AWS_ENDPOINT_URL): %w", err)
	}
	return callerIdentity{aws.ToString(who.Arn), aws.ToString(who.Account)}, nil
}

func writePlan(path string, plan *remediate.Plan) error {
	return renderTo(path, io.Discard, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(plan)
	})
}

func readPlan(path string) (*remediate.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var plan remediate.Plan
	if err := json.Unmarshal(b, &plan); err != nil {
		return nil, fmt.Errorf("read plan %s: not a keywarden plan: %w", path, err)
	}
	if plan.ID == "" || plan.SchemaVersion == 0 {
		return nil, fmt.Errorf("read plan %s: not a keywarden plan (no id or schema_version)", path)
	}
	return &plan, nil
}

// printPlan writes the plan for people, ending with the summary line.
func printPlan(w io.Writer, plan *remediate.Plan) {
	if len(plan.Actions) > 0 {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tACCOUNT\tUSER\tKEY ID\tRULES\tWHY")
		for _, a := range plan.Actions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Type, a.AccountID, a.UserName, a.AccessKeyID, strings.Join(a.Rules, ","), a.Reason)
		}
		tw.Flush()
	}
	if len(plan.Withheld) > 0 {
		fmt.Fprintf(w, "\nWithheld by the safety guards (docs/safety.md):\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, h := range plan.Withheld {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s: %s\n", h.Type, h.AccountID, h.UserName, h.AccessKeyID, h.Guard, h.Reason)
		}
		tw.Flush()
	}
	var failed []string
	for _, a := range plan.Accounts {
		if a.Status != "ok" {
			failed = append(failed, a.ID)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nNo action for accounts that could not be read: %s\n", strings.Join(failed, ", "))
	}
	if plan.Limits.Exceeded {
		fmt.Fprintf(w, "\nOver the safety limits — apply will refuse this plan:\n  %s\n", strings.Join(plan.Limits.Reasons, "\n  "))
	}
	s := plan.Summary()
	fmt.Fprintf(w, "\nPlan: %d to deactivate, %d to delete, %d %s.", s.Deactivate, s.Delete, s.Notify, plural(s.Notify, "warning", "warnings"))
	if s.Withheld > 0 {
		fmt.Fprintf(w, " %d withheld by guards.", s.Withheld)
	}
	fmt.Fprintln(w)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
