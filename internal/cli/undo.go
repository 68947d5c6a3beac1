package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// undoFlags are the flags of "keywarden undo".
type undoFlags struct {
	role        roleFlags
	policy      policyFlags
	aws         awsFlags
	state       stateFlags
	AutoApprove bool
	Keys        []string
}

func newUndoCommand(g *GlobalOptions) *cobra.Command {
	var o undoFlags
	cmd := &cobra.Command{
		Use:   "undo RUN_ID",
		Short: "Reactivate the keys an apply run deactivated",
		Long: `Reactivate the keys that an apply run deactivated, after re-reading each
one. Keys the run deleted cannot be brought back (IAM has no undelete); undo
lists them. 'keywarden history' lists the runs.

Undo first shows what it will reactivate and what changed since the run: a
key used after keywarden deactivated it was reactivated and deactivated
again since, perhaps by incident response disabling a leaked key. Such keys
are left alone unless named one by one with --key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUndo(cmd, args[0], o, g.Logger)
		},
	}
	o.role.add(cmd)
	o.policy.add(cmd)
	o.aws.add(cmd)
	o.state.add(cmd)
	cmd.Flags().BoolVar(&o.AutoApprove, "auto-approve", false, "do not ask for confirmation")
	cmd.Flags().StringArrayVar(&o.Keys, "key", nil, "also reactivate this `access key ID` although it changed since the run (repeatable)")
	return cmd
}

func runUndo(cmd *cobra.Command, runID string, o undoFlags, log *slog.Logger) error {
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	confirm, err := newConfirmation(cmd, "undo", o.AutoApprove)
	if err != nil {
		return err
	}
	pol, err := o.policy.load()
	if err != nil {
		return err
	}
	role, err := o.role.resolve(cmd, pol)
	if err != nil {
		return err
	}
	st, err := openExistingState(ctx, o.state.State, o.aws)
	if err != nil {
		return err
	}
	defer st.Close()
	// The run is looked up before any AWS call: a mistyped ID fails fast.
	run, err := st.GetRun(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no run %s in the state store; 'keywarden history' lists the runs", runID)
	}
	if err != nil {
		return err
	}
	j := &job{pol: pol, role: role}
	if err := j.connect(ctx, "undo", o.aws, st, log, nil); err != nil {
		return err
	}
	req := engine.UndoRequest{RunID: runID, Force: o.Keys, Progress: func(r remediate.ActionResult) { printResult(stdout, r) }}
	req.Confirm = func(up *remediate.UndoPlan) error {
		printUndoPlan(stdout, up, o.Keys)
		return confirm.ask(ctx, stdout, "To reactivate them, type the run ID", up.Run.ID)
	}
	fmt.Fprintf(stdout, "Run %s (%s, %s): reading the keys it deactivated...\n", run.ID, run.Command, run.StartedAt.Format(time.RFC3339))
	rep, err := j.eng.Undo(ctx, req)
	if err != nil {
		return err
	}
	if len(rep.Results) == 0 {
		fmt.Fprintln(stdout, "\nNothing to reactivate.")
		for _, e := range rep.Rotated {
			fmt.Fprintf(stdout, "  %s\n", remediate.RotatedLine(e))
		}
		return nil
	}
	c := rep.Counts()
	fmt.Fprintf(stdout, "\nUndo run %s %s: %d reactivated, %d already active, %d skipped, %d failed.\n", rep.RunID, rep.Status,
		c[store.OutcomeDone], c[store.OutcomeAlreadyDone], c[store.OutcomeSkipped], c[store.OutcomeFailed])
	if c[store.OutcomeFailed] > 0 {
		return fmt.Errorf("%w: %d", ErrActionsFailed, c[store.OutcomeFailed])
	}
	return nil
}

// printUndoPlan says what undo will reactivate, what changed since the
// run and is left alone, and what cannot come back.
func printUndoPlan(w io.Writer, up *remediate.UndoPlan, force []string) {
	forced := map[string]bool{}
	for _, k := range force {
		forced[k] = true
	}
	line := func(e store.Entry, why string) {
		fmt.Fprintf(w, "  %s %s %s", e.AccountID, e.UserName, e.AccessKeyID)
		if why != "" {
			fmt.Fprintf(w, ": %s", why)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nTo reactivate (%d):\n", len(up.Reactivate)+len(force))
	for _, e := range up.Reactivate {
		line(e, "")
	}
	for _, c := range up.Changed {
		if forced[c.Entry.AccessKeyID] {
			line(c.Entry, "asked with --key, although "+c.Why)
		}
	}
	var left []remediate.UndoChange
	for _, c := range up.Changed {
		if !forced[c.Entry.AccessKeyID] {
			left = append(left, c)
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(w, "\nChanged since the run, left alone (reactivate one with --key KEY_ID):\n")
		for _, c := range left {
			line(c.Entry, c.Why)
		}
	}
	if len(up.Unchanged) > 0 {
		fmt.Fprintf(w, "\nNothing to do:\n")
		for _, c := range up.Unchanged {
			line(c.Entry, c.Why)
		}
	}
	for _, e := range up.Deleted {
		fmt.Fprintf(w, "  not undone: key %s of %s in %s was deleted; IAM cannot restore a deleted key\n", e.AccessKeyID, e.UserName, e.AccountID)
	}
	for _, e := range up.Rotated {
		fmt.Fprintf(w, "  %s\n", remediate.RotatedLine(e))
	}
	fmt.Fprintln(w)
}

// historyFlags are the flags of "keywarden history".
type historyFlags struct {
	state  stateFlags
	aws    awsFlags
	Run    string
	Limit  int
	Format string
}

func newHistoryCommand() *cobra.Command {
	var o historyFlags
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the apply and undo runs, or one run's actions",
		Long: `List the runs of apply and undo recorded in the state store, newest first,
with their outcomes; with --run, every action of one run: who, what, why,
when, the outcome and the AWS request ID. --format json gives the same for
scripts (docs/scripting.md).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHistory(cmd, o)
		},
	}
	o.state.add(cmd)
	o.aws.add(cmd)
	cmd.Flags().StringVar(&o.Run, "run", "", "show this `run`'s actions")
	cmd.Flags().IntVar(&o.Limit, "limit", 20, "list at most this many `runs` (0: all)")
	cmd.Flags().StringVar(&o.Format, "format", "table", "output `format`: table or json")
	return cmd
}

// historyRun is a run as history --format json writes it.
type historyRun struct {
	ID         string         `json:"id"`
	Command    string         `json:"command"`
	Status     string         `json:"status"`
	PlanID     string         `json:"plan_id,omitempty"`
	UndoOf     string         `json:"undo_of,omitempty"`
	Caller     string         `json:"caller"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Outcomes   map[string]int `json:"outcomes"`
	Actions    []historyEntry `json:"actions,omitempty"`
	Notified   []historyNote  `json:"notifications,omitempty"`
}

type historyEntry struct {
	Action      string     `json:"action"`
	AccountID   string     `json:"account_id"`
	UserName    string     `json:"user_name"`
	AccessKeyID string     `json:"access_key_id"`
	Rule        string     `json:"rule,omitempty"`
	Stage       string     `json:"stage,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Outcome     string     `json:"outcome"`
	Detail      string     `json:"detail,omitempty"`
	RequestID   string     `json:"request_id,omitempty"`
	IntentAt    time.Time  `json:"intent_at"`
	ResultAt    *time.Time `json:"result_at,omitempty"`
}

type historyNote struct {
	Recipient   string    `json:"recipient"`
	Channel     string    `json:"channel"`
	AccountID   string    `json:"account_id"`
	UserName    string    `json:"user_name"`
	AccessKeyID string    `json:"access_key_id"`
	Outcome     string    `json:"outcome"`
	Attempts    int       `json:"attempts"`
	Detail      string    `json:"detail,omitempty"`
	At          time.Time `json:"at"`
}

func outcomeName(o string) string {
	if o == store.OutcomePending {
		return "pending"
	}
	return o
}

func toHistoryRun(r store.Run, entries []store.Entry) historyRun {
	h := historyRun{ID: r.ID, Command: r.Command, Status: r.Status, PlanID: r.PlanID, UndoOf: r.UndoOf, Caller: r.Caller,
		StartedAt: r.StartedAt, Outcomes: map[string]int{}}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt
		h.FinishedAt = &t
	}
	for _, e := range entries {
		h.Outcomes[outcomeName(e.Outcome)]++
	}
	return h
}

func runHistory(cmd *cobra.Command, o historyFlags) error {
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	if o.Format != "table" && o.Format != "json" {
		return usagef(cmd, "--format %q: want table or json", o.Format)
	}
	st, err := openExistingState(ctx, o.state.State, o.aws)
	if err != nil {
		return err
	}
	defer st.Close()
	if o.Run != "" {
		return runHistoryOne(cmd, st, o, stdout)
	}
	runs, err := st.Runs(ctx, o.Limit)
	if err != nil {
		return err
	}
	var all []historyRun
	for _, r := range runs {
		entries, err := st.Entries(ctx, r.ID)
		if err != nil {
			return err
		}
		all = append(all, toHistoryRun(r, entries))
	}
	if o.Format == "json" {
		if all == nil {
			all = []historyRun{}
		}
		return writeJSON(stdout, map[string]any{"runs": all})
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	defer tw.Flush()
	if len(all) == 0 {
		fmt.Fprintln(tw, "no runs yet")
		return nil
	}
	fmt.Fprintln(tw, "RUN\tCOMMAND\tSTATUS\tSTARTED\tBY\tPLAN/UNDO OF\tOUTCOMES")
	for _, h := range all {
		ref := h.PlanID
		if h.UndoOf != "" {
			ref = "undo of " + h.UndoOf
		}
		c := h.Outcomes
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d done, %d already, %d skipped, %d failed, %d pending\n", h.ID, h.Command, h.Status,
			h.StartedAt.Format(time.RFC3339), h.Caller, ref, c[store.OutcomeDone], c[store.OutcomeAlreadyDone],
			c[store.OutcomeSkipped], c[store.OutcomeFailed], c["pending"])
	}
	return nil
}

func runHistoryOne(cmd *cobra.Command, st store.Store, o historyFlags, stdout io.Writer) error {
	ctx := cmd.Context()
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
	ns, err := st.Notifications(ctx, o.Run)
	if err != nil {
		return err
	}
	if o.Format == "json" {
		h := toHistoryRun(run, entries)
		for _, e := range entries {
			he := historyEntry{Action: e.Action, AccountID: e.AccountID, UserName: e.UserName, AccessKeyID: e.AccessKeyID,
				Rule: e.Rule, Stage: e.Stage, Reason: e.Reason, Outcome: outcomeName(e.Outcome), Detail: e.Detail,
				RequestID: e.RequestID, IntentAt: e.IntentAt}
			if !e.ResultAt.IsZero() {
				t := e.ResultAt
				he.ResultAt = &t
			}
			h.Actions = append(h.Actions, he)
		}
		for _, n := range ns {
			h.Notified = append(h.Notified, historyNote{Recipient: n.Recipient, Channel: n.Channel, AccountID: n.AccountID,
				UserName: n.UserName, AccessKeyID: n.AccessKeyID, Outcome: n.Outcome, Attempts: n.Attempts, Detail: n.Detail, At: n.At})
		}
		return writeJSON(stdout, h)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "run %s: %s %s by %s, %s\n\n", run.ID, run.Command, run.Status, run.Caller, run.StartedAt.Format(time.RFC3339))
	fmt.Fprintln(tw, "WHEN\tACTION\tACCOUNT\tUSER\tKEY ID\tRULE\tOUTCOME\tDETAIL\tREQUEST ID")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.IntentAt.Format(time.RFC3339), e.Action, e.AccountID,
			e.UserName, e.AccessKeyID, e.Rule, outcomeName(e.Outcome), e.Detail, e.RequestID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printNotifications(stdout, ns)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
