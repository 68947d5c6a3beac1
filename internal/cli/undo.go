package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// UndoOptions are the flags of "keywarden undo".
type UndoOptions struct {
	Scan        ScanOptions
	State       string
	AutoApprove bool
	stdin       io.Reader
	stdinIsTerm bool
}

func newUndoCommand(g *GlobalOptions) *cobra.Command {
	var opts UndoOptions
	cmd := &cobra.Command{
		Use:   "undo RUN_ID",
		Short: "Reactivate the keys an apply run deactivated",
		Long: `Reactivate the keys that an apply run deactivated, after re-reading each
one. Keys the run deleted cannot be brought back (IAM has no undelete); undo
lists them. 'keywarden history' lists the runs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Scan.changed = cmd.Flags().Changed
			opts.stdin, opts.stdinIsTerm = terminalInput(cmd)
			return runUndo(cmd.Context(), args[0], opts, g.Logger, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Scan.Config, "config", "", "policy `file` (for the role to assume)")
	f.StringVar(&opts.Scan.RoleName, "role-name", "KeywardenSpoke", "`role` to assume in each member account")
	f.StringVar(&opts.Scan.ExternalID, "external-id", "", "external `ID` the role requires (default $KEYWARDEN_EXTERNAL_ID)")
	f.BoolVar(&opts.Scan.HubViaRole, "hub-via-role", false, "act in the caller's own account through the role too")
	f.StringVar(&opts.Scan.Profile, "profile", "", "AWS shared config `profile`")
	f.StringVar(&opts.Scan.Region, "region", "", "AWS `region` for the API calls")
	addStateFlag(cmd, &opts.State)
	f.BoolVar(&opts.AutoApprove, "auto-approve", false, "do not ask for confirmation")
	return cmd
}

func runUndo(ctx context.Context, runID string, o UndoOptions, log *slog.Logger, stdout io.Writer) error {
	if !o.AutoApprove && !o.stdinIsTerm {
		return errors.New("refusing to undo without a terminal to confirm on; pass --auto-approve")
	}
	sc := o.Scan
	sc.Source, sc.KeyIDs, sc.Format, sc.FailOn, sc.Parallel, sc.AccountTimeout = "report", "attention", "table", "none", 1, time.Minute
	p, err := sc.parse()
	if err != nil {
		return withCommand(err, "keywarden undo")
	}
	st, err := openState(ctx, o.State)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := st.GetRun(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no run %s in the state store; 'keywarden history' lists the runs", runID)
	}
	if err != nil {
		return err
	}
	entries, err := st.Entries(ctx, runID)
	if err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		if e.Action == store.ActionDeactivate && e.Outcome == store.OutcomeDone {
			n++
		}
	}
	fmt.Fprintf(stdout, "Run %s (%s, %s) deactivated %d keys.\n", run.ID, run.Command, run.StartedAt.Format(time.RFC3339), n)
	if !o.AutoApprove && n > 0 {
		fmt.Fprintf(stdout, "To reactivate them, type the run ID (%s): ", run.ID)
		if !confirmed(o.stdin, run.ID) {
			return errors.New("undo cancelled: the ID typed did not match; nothing was changed")
		}
	}
	base, err := awsx.Load(ctx, awsx.Options{Profile: sc.Profile, Region: sc.Region})
	if err != nil {
		return err
	}
	sess, err := newSession(ctx, base, "undo", p.roleName, p.externalID, sc.HubViaRole)
	if err != nil {
		return err
	}
	ap := &remediate.Applier{
		Store: st, Policy: p.policy, Caller: sess.caller, CallerKeyID: sess.callerKeyID, Log: log,
		ClientFor: func(accountID string) remediate.KeyAPI { return iam.NewFromConfig(sess.config(accountID)) },
		Progress:  func(r remediate.ActionResult) { printResult(stdout, r) },
	}
	rep, err := ap.Undo(ctx, runID, sess.runID)
	if rep != nil {
		for _, e := range rep.NotUndone {
			fmt.Fprintf(stdout, "  not undone: key %s of %s in %s was deleted; IAM cannot restore a deleted key\n", e.AccessKeyID, e.UserName, e.AccountID)
		}
	}
	if err != nil {
		return err
	}
	c := rep.Counts()
	fmt.Fprintf(stdout, "\nUndo run %s %s: %d reactivated, %d already active, %d skipped, %d failed.\n", rep.RunID, rep.Status,
		c[store.OutcomeDone], c[store.OutcomeAlreadyDone], c[store.OutcomeSkipped], c[store.OutcomeFailed])
	if c[store.OutcomeFailed] > 0 {
		return fmt.Errorf("%w: %d", ErrActionsFailed, c[store.OutcomeFailed])
	}
	return nil
}

// HistoryOptions are the flags of "keywarden history".
type HistoryOptions struct {
	State string
	Run   string
	Limit int
}

func newHistoryCommand() *cobra.Command {
	var opts HistoryOptions
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the apply and undo runs, or one run's actions",
		Long: `List the runs of apply and undo recorded in the state store, newest first,
with their outcomes; with --run, every action of one run: who, what, why,
when, the outcome and the AWS request ID.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHistory(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	addStateFlag(cmd, &opts.State)
	cmd.Flags().StringVar(&opts.Run, "run", "", "show this `run`'s actions")
	cmd.Flags().IntVar(&opts.Limit, "limit", 20, "list at most this many `runs` (0: all)")
	return cmd
}

func runHistory(ctx context.Context, o HistoryOptions, stdout io.Writer) error {
	st, err := openState(ctx, o.State)
	if err != nil {
		return err
	}
	defer st.Close()
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	defer tw.Flush()
	if o.Run != "" {
		run, err := st.GetRun(ctx, o.Run)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no run %s in the state store; 'keywarden history' lists the runs", o.Run)
		}
		if err != nil {
			return err
		}
		entries, err := st.Entries(ctx, o.Run)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "run %s: %s %s by %s, %s\n\n", run.ID, run.Command, run.Status, run.Caller, run.StartedAt.Format(time.RFC3339))
		fmt.Fprintln(tw, "WHEN\tACTION\tACCOUNT\tUSER\tKEY ID\tRULE\tOUTCOME\tDETAIL\tREQUEST ID")
		for _, e := range entries {
			outcome := e.Outcome
			if outcome == store.OutcomePending {
				outcome = "pending"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.IntentAt.Format(time.RFC3339), e.Action, e.AccountID,
				e.UserName, e.AccessKeyID, e.Rule, outcome, e.Detail, e.RequestID)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		ns, err := st.Notifications(ctx, o.Run)
		if err != nil {
			return err
		}
		printNotifications(stdout, ns)
		return nil
	}
	runs, err := st.Runs(ctx, o.Limit)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintln(tw, "no runs yet")
		return nil
	}
	fmt.Fprintln(tw, "RUN\tCOMMAND\tSTATUS\tSTARTED\tBY\tPLAN/UNDO OF\tOUTCOMES")
	for _, r := range runs {
		entries, err := st.Entries(ctx, r.ID)
		if err != nil {
			return err
		}
		counts := map[string]int{}
		for _, e := range entries {
			counts[e.Outcome]++
		}
		ref := r.PlanID
		if r.UndoOf != "" {
			ref = "undo of " + r.UndoOf
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d done, %d already, %d skipped, %d failed, %d pending\n", r.ID, r.Command, r.Status,
			r.StartedAt.Format(time.RFC3339), r.Caller, ref, counts[store.OutcomeDone], counts[store.OutcomeAlreadyDone],
			counts[store.OutcomeSkipped], counts[store.OutcomeFailed], counts[store.OutcomePending])
	}
	return nil
}
