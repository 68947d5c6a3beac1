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

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// applyFlags are the flags of "keywarden apply".
type applyFlags struct {
	accountFlags
	state               stateFlags
	AutoApprove         bool
	UnsafeAllowBulk     bool
	UnsafeAllowForecast bool
}

func newApplyCommand(g *GlobalOptions) *cobra.Command {
	var o applyFlags
	cmd := &cobra.Command{
		Use:   "apply [PLAN]",
		Short: "Apply a saved plan: deactivate and delete keys, journaling every action",
		Long: `Apply a plan saved by 'keywarden plan --out PLAN'.

A plan is a proposal that apply can only narrow, never widen: keywarden reads
the plan's accounts again and judges every action's key by the current policy
and guards; an action the policy would not take now (the rule no longer
fires, the key is exempt or protected or was used recently, the stage is not
reached, the plan file was edited) is skipped and said why. The safety limits
are computed from what will actually be done. Then keywarden shows what it
will do, asks you to type the plan's ID to confirm (a terminal is required
unless --auto-approve), re-reads each key right before acting on it, and
writes every action to the journal before and after the AWS call. An
interrupted apply resumes, as the same run, when run again.

A plan older than safety.max_plan_age, made under another policy, already
applied, a forecast (--as-of), or over the safety limits is refused
(--unsafe-allow-bulk lifts the limits).

Without PLAN, --auto-approve plans and applies in one go, for schedules.

Undo a run's deactivations with 'keywarden undo RUN_ID'.`,
		Example: `  keywarden plan --org --out plan.json
  keywarden apply plan.json
  keywarden apply --org --auto-approve`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			planFile := ""
			if len(args) == 1 {
				planFile = args[0]
			}
			return runApply(cmd, planFile, o, g.Logger)
		},
	}
	o.accountFlags.add(cmd, false)
	o.state.add(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.AutoApprove, "auto-approve", false, "do not ask for confirmation; without PLAN, plan and apply in one go")
	f.BoolVar(&o.UnsafeAllowBulk, "unsafe-allow-bulk", false, "apply a plan over the safety limits (max_actions, max_account_fraction)")
	f.BoolVar(&o.UnsafeAllowForecast, "unsafe-allow-forecast", false, "apply a plan judged at a future --as-of (acts on keys before they are due)")
	return cmd
}

// ErrActionsFailed is returned when an apply finished with failed actions.
var ErrActionsFailed = errors.New("some actions failed")

func runApply(cmd *cobra.Command, planFile string, o applyFlags, log *slog.Logger) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if planFile == "" && !o.AutoApprove {
		return usagef(cmd, "give a plan file (from 'keywarden plan --out FILE'), or --auto-approve to plan and apply in one go")
	}
	confirm, err := newConfirmation(cmd, "apply", o.AutoApprove)
	if err != nil {
		return err
	}
	var saved *remediate.Plan
	if planFile != "" {
		f, err := os.Open(planFile)
		if err != nil {
			return fmt.Errorf("read plan: %w", err)
		}
		saved, err = remediate.ReadPlan(f, planFile)
		f.Close()
		if err != nil {
			return err
		}
	}
	j, err := o.prepare(cmd)
	if err != nil {
		return err
	}
	st, err := j.connectState(ctx, "apply", o.state, o.aws, log)
	if err != nil {
		return err
	}
	defer st.Close()
	req := engine.ApplyRequest{Plan: saved, Read: j.read, UnsafeAllowBulk: o.UnsafeAllowBulk, UnsafeAllowForecast: o.UnsafeAllowForecast,
		Progress: func(r remediate.ActionResult) { printResult(stdout, r) }}
	req.Started = func(runID string, resumed bool) {
		how := "Applying"
		if resumed {
			how = "Resuming the interrupted apply of"
		}
		fmt.Fprintf(stdout, "\n%s %s as run %s (%s)\n", how, req.Plan.ID, runID, j.eng.Hub.CallerARN)
	}
	failedAccounts := 0
	if saved == nil {
		res, err := planWithProgress(ctx, j, stderr)
		if err != nil {
			return err
		}
		req.Plan, req.Scan = res.Plan, res.Scan
		failedAccounts = len(res.Scan.Inventory.Incomplete())
		if failedAccounts > 0 {
			fmt.Fprintf(stderr, "keywarden: %d accounts could not be read completely; they get no action\n", failedAccounts)
		}
		printPlan(stdout, req.Plan)
	} else {
		fmt.Fprintf(stdout, "Reading the plan's accounts again to judge its %d actions by the current policy...\n", len(saved.Actions))
	}
	req.Confirm = func(prep *remediate.Prepared) error {
		printPrepared(stdout, prep, saved != nil)
		return confirm.ask(ctx, stdout, "\nThis changes the keys above in AWS. To apply, type the plan's ID", prep.Plan.ID)
	}
	res, err := j.eng.Apply(ctx, req)
	if errors.Is(err, engine.ErrNothingToApply) {
		fmt.Fprintln(stdout, "\nNothing to apply.")
		return partial(failedAccounts)
	}
	if res != nil && res.Outcome != nil {
		j.printRun(stdout, stderr, res.Outcome, res.Notifications)
	}
	if err != nil {
		switch {
		case !errors.Is(err, context.Canceled) || res == nil || res.Outcome == nil:
		case res.Outcome.Status == store.RunInterrupted:
			fmt.Fprintf(stderr, "keywarden: interrupted; run the same apply again to finish (the journal knows what is done)\n")
		default:
			fmt.Fprintf(stderr, "keywarden: interrupted while telling people; every action is done, and what was not delivered is kept for 'keywarden notify retry'\n")
		}
		return err
	}
	if err := failedActions(res.Outcome); err != nil {
		return err
	}
	return partial(failedAccounts)
}

// failedActions is the error of a run in which actions failed.
func failedActions(out *remediate.Outcome) error {
	if n := out.Counts()[store.OutcomeFailed]; n > 0 {
		return fmt.Errorf("%w: %d of %d (see 'keywarden history --run %s')", ErrActionsFailed, n, len(out.Results), out.RunID)
	}
	return nil
}

// printRun says what a run did and whom it told.
func (j *job) printRun(stdout, stderr io.Writer, out *remediate.Outcome, notes *engine.NotifyReport) {
	printOutcome(stdout, out)
	printNotifyReport(stdout, stderr, notes, j.pol.Notifications.RenotifyAfter.String(), out.RunID)
}

func partial(failedAccounts int) error {
	if failedAccounts > 0 {
		return fmt.Errorf("%w: %d accounts could not be read completely and got no action", ErrPartial, failedAccounts)
	}
	return nil
}

// printPrepared says what the apply will do once the plan was judged
// again, and what it will not do and why.
func printPrepared(w io.Writer, prep *remediate.Prepared, fromFile bool) {
	if fromFile {
		if len(prep.ToDo) > 0 {
			p := *prep.Plan
			p.Actions, p.Withheld, p.Accounts = prep.ToDo, nil, nil
			p.Limits = prep.Limits
			fmt.Fprintln(w)
			printPlan(w, &p)
		}
	}
	if len(prep.Dropped) > 0 {
		fmt.Fprintf(w, "\nNot applied: the current policy would not take these actions now:\n")
		for _, d := range prep.Dropped {
			a := d.Action
			fmt.Fprintf(w, "  %s %s %s %s: %s\n", a.Type, a.AccountID, a.UserName, a.AccessKeyID, d.Detail)
		}
	}
	if prep.Limits.Exceeded {
		fmt.Fprintf(w, "\nOver the safety limits (applied with --unsafe-allow-bulk):\n  %s\n", strings.Join(prep.Limits.Reasons, "\n  "))
	}
}

func printResult(w io.Writer, r remediate.ActionResult) {
	a := r.Action
	line := fmt.Sprintf("  %-12s %s %s %s: %s", a.Type, a.AccountID, a.UserName, a.AccessKeyID, r.Outcome)
	if r.Detail != "" {
		line += " (" + r.Detail + ")"
	}
	if r.Earlier {
		line += " [before the interruption]"
	}
	fmt.Fprintln(w, line)
}

func printOutcome(w io.Writer, out *remediate.Outcome) {
	c := out.Counts()
	resumed := ""
	if out.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(w, "\nRun %s%s %s: %d done, %d already done, %d skipped, %d failed.\n", out.RunID, resumed, out.Status,
		c[store.OutcomeDone], c[store.OutcomeAlreadyDone], c[store.OutcomeSkipped], c[store.OutcomeFailed])
	fmt.Fprintf(w, "Undo its deactivations with: keywarden undo %s\n", out.RunID)
}

// printNotifyReport says what became of the notifications.
func printNotifyReport(stdout, stderr io.Writer, rep *engine.NotifyReport, renotifyAfter, runID string) {
	if rep == nil {
		return
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stderr, "keywarden: %s\n", p)
	}
	if rep.Interrupted {
		fmt.Fprintf(stdout, "notifications: not sent (interrupted); %d kept in the state store's outbox: 'keywarden notify retry' or the next apply sends them\n", rep.Queued)
		return
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(stderr, "keywarden: %s\n", f)
	}
	if rep.RecordErr != nil {
		fmt.Fprintf(stderr, "keywarden: record the notifications: %v\n", rep.RecordErr)
	}
	line := fmt.Sprintf("notifications: %d sent, %d failed", rep.Sent, rep.Failed)
	var notes []string
	if rep.Repeats > 0 {
		notes = append(notes, fmt.Sprintf("%d %s not repeated within renotify_after (%s)", rep.Repeats,
			plural(rep.Repeats, "warning", "warnings"), renotifyAfter))
	}
	if rep.Unrouted > 0 {
		notes = append(notes, fmt.Sprintf("%d %s without an owner", rep.Unrouted, plural(rep.Unrouted, "key", "keys")))
	}
	if rep.Retried > 0 {
		notes = append(notes, fmt.Sprintf("%d kept from earlier runs delivered", rep.Retried))
	}
	if n := rep.Queued + rep.StillQueued; n > 0 {
		notes = append(notes, fmt.Sprintf("%d kept in the outbox for 'keywarden notify retry' or the next apply", n))
	}
	if len(notes) > 0 {
		line += "; " + strings.Join(notes, ", ")
	}
	fmt.Fprintf(stdout, "%s (see 'keywarden history --run %s')\n", line, runID)
}

// confirmInput is where apply, rotate and undo read their confirmation;
// tests replace it.
var confirmInput = terminalInput

// terminalInput is the command's standard input, and whether it is a
// terminal someone can confirm on.
func terminalInput(cmd *cobra.Command) (io.Reader, bool) {
	in := cmd.InOrStdin()
	f, ok := in.(*os.File)
	return in, ok && term.IsTerminal(int(f.Fd()))
}

// confirmation is how a command that changes keys gets the go-ahead:
// typed on a terminal, or given beforehand with --auto-approve.
type confirmation struct {
	verb string
	in   io.Reader
	auto bool
}

// newConfirmation refuses to go on when no one could confirm: no
// --auto-approve and no terminal.
func newConfirmation(cmd *cobra.Command, verb string, autoApprove bool) (confirmation, error) {
	in, isTerm := confirmInput(cmd)
	if !autoApprove && !isTerm {
		return confirmation{}, fmt.Errorf("refusing to %s without a terminal to confirm on; pass --auto-approve to %s unattended", verb, verb)
	}
	return confirmation{verb: verb, in: in, auto: autoApprove}, nil
}

// ask prints prompt and waits for id to be typed; with --auto-approve it
// asks nothing.
func (c confirmation) ask(ctx context.Context, w io.Writer, prompt, id string) error {
	if c.auto {
		return nil
	}
	fmt.Fprintf(w, "%s (%s): ", prompt, id)
	ok, err := confirmed(ctx, c.in, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s cancelled: the ID typed did not match; nothing was changed", c.verb)
	}
	return nil
}

// confirmed reads one line and reports whether it is exactly want: a
// confirmation names what it confirms, 'y' is not enough. Ctrl-C while it
// waits ends the wait with the context's error.
func confirmed(ctx context.Context, in io.Reader, want string) (bool, error) {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(in).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		return strings.TrimSpace(s) == want, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
