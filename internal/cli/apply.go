package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// ApplyOptions are the flags of "keywarden apply".
type ApplyOptions struct {
	Scan                ScanOptions
	State               string
	AutoApprove         bool
	UnsafeAllowBulk     bool
	UnsafeAllowForecast bool

	// stdin is where the confirmation is read; a terminal is required
	// unless AutoApprove.
	stdin       io.Reader
	stdinIsTerm bool
}

func newApplyCommand(g *GlobalOptions) *cobra.Command {
	var opts ApplyOptions
	cmd := &cobra.Command{
		Use:   "apply [PLAN]",
		Short: "Apply a saved plan: deactivate and delete keys, journaling every action",
		Long: `Apply a plan saved by 'keywarden plan --out PLAN'. keywarden shows the plan,
asks you to type its ID to confirm (a terminal is required unless
--auto-approve), re-reads every key live before acting on it and skips any
that changed since the plan, and writes every action to the journal before
and after the AWS call. An interrupted apply resumes when run again.

A plan older than safety.max_plan_age, made under another policy, already
applied, or over the safety limits is refused (--unsafe-allow-bulk lifts
the limits).

Without PLAN, --auto-approve plans and applies in one go, for schedules.

Undo a run's deactivations with 'keywarden undo RUN_ID'.`,
		Example: `  keywarden plan --org --out plan.json
  keywarden apply plan.json
  keywarden apply --org --auto-approve`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Scan.changed = cmd.Flags().Changed
			opts.stdin, opts.stdinIsTerm = terminalInput(cmd)
			planFile := ""
			if len(args) == 1 {
				planFile = args[0]
			}
			return runApply(cmd.Context(), planFile, opts, g.Logger, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addScanFlags(cmd, &opts.Scan)
	addStateFlag(cmd, &opts.State)
	cmd.Flags().BoolVar(&opts.AutoApprove, "auto-approve", false, "do not ask for confirmation; without PLAN, plan and apply in one go")
	cmd.Flags().BoolVar(&opts.UnsafeAllowBulk, "unsafe-allow-bulk", false, "apply a plan over the safety limits (max_actions, max_account_fraction)")
	cmd.Flags().BoolVar(&opts.UnsafeAllowForecast, "unsafe-allow-forecast", false, "apply a plan judged at a future --as-of (acts on keys before they are due)")
	return cmd
}

// ErrActionsFailed is returned when an apply finished with failed actions.
var ErrActionsFailed = errors.New("some actions failed")

func runApply(ctx context.Context, planFile string, o ApplyOptions, log *slog.Logger, stdout, stderr io.Writer) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if planFile == "" && !o.AutoApprove {
		return &UsageError{Command: "keywarden apply", Err: errors.New("give a plan file (from 'keywarden plan --out FILE'), or --auto-approve to plan and apply in one go")}
	}
	if !o.AutoApprove && !o.stdinIsTerm {
		return errors.New("refusing to apply without a terminal to confirm on; pass --auto-approve to apply unattended")
	}
	p, err := o.Scan.parse()
	if err != nil {
		return withCommand(err, "keywarden apply")
	}
	st, err := openState(ctx, o.State)
	if err != nil {
		return err
	}
	defer st.Close()
	base, err := awsx.Load(ctx, awsx.Options{Profile: o.Scan.Profile, Region: o.Scan.Region})
	if err != nil {
		return err
	}

	var (
		plan *remediate.Plan
		inv  *inventory.Inventory // nil for a saved plan
	)
	failedAccounts := 0
	if planFile != "" {
		if plan, err = readPlan(planFile); err != nil {
			return err
		}
	} else {
		if plan, inv, err = makePlan(ctx, o.Scan, p, base, st, log, stderr); err != nil {
			return err
		}
		for _, a := range plan.Accounts {
			if a.Status != "ok" {
				failedAccounts++
			}
		}
		if failedAccounts > 0 {
			fmt.Fprintf(stderr, "keywarden: %d accounts could not be read; they get no action\n", failedAccounts)
		}
	}
	printPlan(stdout, plan)
	if !plan.Changes() && len(plan.Actions) == 0 {
		fmt.Fprintln(stdout, "\nNothing to apply.")
		return nil
	}

	sess, err := newSession(ctx, base, "apply", p.roleName, p.externalID, o.Scan.HubViaRole)
	if err != nil {
		return err
	}
	ap := &remediate.Applier{
		Store: st, Policy: p.policy, Caller: sess.caller, CallerKeyID: sess.callerKeyID,
		UnsafeAllowBulk: o.UnsafeAllowBulk, UnsafeAllowForecast: o.UnsafeAllowForecast, Log: log,
		ClientFor: func(accountID string) remediate.KeyAPI { return iam.NewFromConfig(sess.config(accountID)) },
		Progress:  func(r remediate.ActionResult) { printResult(stdout, r) },
	}
	if err := ap.Check(ctx, plan); err != nil {
		return err
	}
	if !o.AutoApprove {
		fmt.Fprintf(stdout, "\nThis changes the keys above in AWS. To apply, type the plan's ID (%s): ", plan.ID)
		if !confirmed(o.stdin, plan.ID) {
			return errors.New("apply cancelled: the ID typed did not match; nothing was changed")
		}
	}
	// Notifications go out after the apply, whatever its outcome; they
	// never stop it or change how it ends.
	nt := newNotifier(p.policy, st, base, log, stderr)
	fmt.Fprintf(stdout, "\nApplying %s as run %s (%s)\n", plan.ID, sess.runID, sess.caller)
	out, err := ap.Apply(ctx, plan, sess.runID)
	if out != nil {
		printOutcome(stdout, out)
		nt.deliver(ctx, plan, out, func() *directory {
			if inv != nil {
				return directoryOf(inv)
			}
			return readDirectory(ctx, plan, sess, log)
		}, stdout, stderr)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "keywarden: interrupted; run the same apply again to finish (the journal knows what is done)\n")
		}
		return err
	}
	if n := out.Counts()[store.OutcomeFailed]; n > 0 {
		return fmt.Errorf("%w: %d of %d (see 'keywarden history --run %s')", ErrActionsFailed, n, len(out.Results), out.RunID)
	}
	if failedAccounts > 0 {
		return fmt.Errorf("%w: %d accounts could not be read and got no action", ErrPartial, failedAccounts)
	}
	return nil
}

func printResult(w io.Writer, r remediate.ActionResult) {
	a := r.Action
	line := fmt.Sprintf("  %-12s %s %s %s: %s", a.Type, a.AccountID, a.UserName, a.AccessKeyID, r.Outcome)
	if r.Detail != "" {
		line += " (" + r.Detail + ")"
	}
	if r.Earlier {
		line += " [in an earlier run]"
	}
	fmt.Fprintln(w, line)
}

func printOutcome(w io.Writer, out *remediate.Outcome) {
	c := out.Counts()
	fmt.Fprintf(w, "\nRun %s %s: %d done, %d already done, %d skipped, %d failed.\n", out.RunID, out.Status,
		c[store.OutcomeDone], c[store.OutcomeAlreadyDone], c[store.OutcomeSkipped], c[store.OutcomeFailed])
	fmt.Fprintf(w, "Undo its deactivations with: keywarden undo %s\n", out.RunID)
}

// terminalInput is the command's standard input, and whether it is a
// terminal someone can confirm on.
func terminalInput(cmd *cobra.Command) (io.Reader, bool) {
	in := cmd.InOrStdin()
	f, ok := in.(*os.File)
	return in, ok && term.IsTerminal(int(f.Fd()))
}

// confirmed reads one line and reports whether it is exactly want: a
// confirmation names what it confirms, 'y' is not enough.
func confirmed(in io.Reader, want string) bool {
	line, _ := bufio.NewReader(in).ReadString('\n')
	return strings.TrimSpace(line) == want
}
