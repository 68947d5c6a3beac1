package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/output"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// ErrChanges is returned by "plan --detailed-exitcode" when the plan would
// change keys (exit code 2, as Terraform's).
var ErrChanges = errors.New("the plan has changes")

// planFlags are the flags of "keywarden plan".
type planFlags struct {
	accountFlags
	state            stateFlags
	Out              string
	DetailedExitcode bool
}

func newPlanCommand(g *GlobalOptions) *cobra.Command {
	var o planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change, and save it as a plan (read-only)",
		Long: `Scan the selected accounts, judge every key by the policy, and turn the
findings into actions — deactivate, delete, notify — under the safety guards
(docs/safety.md). Print a summary and, with --out, save the plan as JSON for
'keywarden apply PLAN' (--out - writes the JSON to stdout and the summary to
stderr). Planning never changes anything.

With --detailed-exitcode the exit code is 0 when the plan changes no key and
2 when it does (docs/scripting.md says which code wins when several apply).`,
		Example: `  keywarden plan --org --out plan.json
  keywarden apply plan.json
  keywarden plan --org --out - | jq '.actions | length'`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runPlan(cmd, o, g.Logger)
			return err
		},
	}
	o.accountFlags.add(cmd, false)
	o.state.add(cmd)
	cmd.Flags().StringVar(&o.Out, "out", "", "save the plan to this `file` (JSON; - for stdout)")
	cmd.Flags().BoolVar(&o.DetailedExitcode, "detailed-exitcode", false, "exit 2 when the plan changes keys, 0 when it does not")
	return cmd
}

// openState opens the state store: dynamodb://TABLE (read with the AWS
// configuration af chooses), or a SQLite file, the default one when path
// is "", created if need be.
func openState(ctx context.Context, path string, af awsFlags) (store.Store, error) {
	if path == "" {
		path = os.Getenv(sqlite.EnvState)
	}
	if engine.IsSharedState(path) {
		cfg, err := af.config(ctx, nil)
		if err != nil {
			return nil, err
		}
		return engine.OpenState(ctx, path, cfg)
	}
	return engine.OpenState(ctx, path, aws.Config{}) // its errors name the path
}

// openExistingState opens a state store that must already exist: reading
// the history of a store mistyped must not create an empty one.
func openExistingState(ctx context.Context, path string, af awsFlags) (store.Store, error) {
	flag := "--state"
	if path == "" {
		p, err := sqlite.DefaultPath()
		if err != nil {
			return nil, err
		}
		path, flag = p, "the default state store"
		if os.Getenv(sqlite.EnvState) != "" {
			flag = "$" + sqlite.EnvState
		}
	}
	if engine.IsSharedState(path) {
		return openState(ctx, path, af) // a missing table is an error that says so
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no state store at %s (%s): nothing has been applied with it; check the path", path, flag)
	}
	return sqlite.Open(ctx, path)
}

func runPlan(cmd *cobra.Command, o planFlags, log *slog.Logger) (*remediate.Plan, error) {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := output.Check(o.Out); err != nil {
		return nil, err
	}
	j, err := o.prepare(cmd)
	if err != nil {
		return nil, err
	}
	st, err := j.connectState(ctx, "plan", o.state, o.aws, log)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	res, err := planWithProgress(ctx, j, stderr)
	if err != nil {
		return nil, err
	}
	plan := res.Plan
	// With the plan's JSON on stdout, the summary goes to stderr.
	human := stdout
	if o.Out == "-" {
		human = stderr
	}
	printPlan(human, plan)
	if o.Out != "" {
		if err := output.Write(o.Out, stdout, func(w io.Writer) error { return remediate.WritePlan(w, plan) }); err != nil {
			return nil, err
		}
		if o.Out != "-" {
			fmt.Fprintf(human, "\nSaved the plan to %s.", o.Out)
		}
	}
	fmt.Fprintln(human, nextStep(plan, o.Out))
	if failed := res.Scan.Inventory.Incomplete(); len(failed) > 0 {
		return plan, fmt.Errorf("%w: %s and get no action (%s)", ErrPartial, incompleteCount(failed, len(res.Scan.Inventory.Accounts)), failedSummary(failed))
	}
	if o.DetailedExitcode && plan.Changes() {
		return plan, ErrChanges
	}
	return plan, nil
}

// nextStep says what to do with a plan: apply it, or why apply would
// refuse it and what to do instead.
func nextStep(plan *remediate.Plan, out string) string {
	switch {
	case len(plan.Actions) == 0:
		return "\nNothing to apply."
	case plan.AsOf.Sub(plan.CreatedAt) > remediate.ForecastSlack:
		return "\nThis plan is a forecast (--as-of): apply refuses it. Make a plan without --as-of to act now."
	case plan.Limits.Exceeded:
		return "\nApply would refuse this plan: it is over the safety limits. Narrow it (--accounts, --ou), raise the limits in the policy's safety section, or, having read it, apply it with --unsafe-allow-bulk."
	case out == "":
		return "\nNothing was changed. Save the plan with --out FILE, then run 'keywarden apply FILE'."
	case out == "-":
		return "\nApply the saved plan with 'keywarden apply FILE'."
	}
	return " Apply it with: keywarden apply " + out
}

// printPlan writes the plan for people, ending with the summary line.
func printPlan(w io.Writer, plan *remediate.Plan) { printPlanAs(w, plan, false) }

// printPlanAs writes the plan; compact leaves out the reasons, which the
// scan printed just before, so that a line fits in 100 columns.
func printPlanAs(w io.Writer, plan *remediate.Plan, compact bool) {
	if len(plan.Actions) > 0 {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		if compact {
			fmt.Fprintln(tw, "ACTION\tACCOUNT\tUSER\tKEY ID\tRULES")
		} else {
			fmt.Fprintln(tw, "ACTION\tACCOUNT\tUSER\tKEY ID\tRULES\tWHY")
		}
		for _, a := range plan.Actions {
			if compact {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Type, a.AccountID, a.UserName, a.AccessKeyID, strings.Join(a.Rules, ","))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Type, a.AccountID, a.UserName, a.AccessKeyID, strings.Join(a.Rules, ","), a.Reason)
		}
		tw.Flush()
	}
	if len(plan.Withheld) > 0 {
		fmt.Fprintf(w, "\nWithheld by the safety guards (docs/safety.md):\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, h := range plan.Withheld {
			if compact {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", h.Type, h.AccountID, h.UserName, h.AccessKeyID, h.Guard)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s: %s\n", h.Type, h.AccountID, h.UserName, h.AccessKeyID, h.Guard, h.Reason)
		}
		tw.Flush()
	}
	if len(plan.Rotations) > 0 {
		fmt.Fprintf(w, "\nRotations (docs/rotation.md):\n")
		for _, r := range plan.Rotations {
			fmt.Fprintf(w, "  %s %s %s -> %s: %s: %s\n", r.AccountID, r.UserName, r.OldKeyID, r.NewKeyID, r.Phase, r.Describe())
		}
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
	fmt.Fprintf(w, "\nPlan: %d to deactivate, %d to delete, ", s.Deactivate, s.Delete)
	if s.Rotate > 0 {
		fmt.Fprintf(w, "%d to rotate, ", s.Rotate)
	}
	fmt.Fprintf(w, "%d %s.", s.Notify, plural(s.Notify, "warning", "warnings"))
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
