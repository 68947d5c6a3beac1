package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// accessKeyIDPattern is what IAM accepts as an access key ID.
var accessKeyIDPattern = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

// rotateFlags are the flags of "keywarden rotate".
type rotateFlags struct {
	role          roleFlags
	read          readFlags
	policy        policyFlags
	aws           awsFlags
	state         stateFlags
	Account       string
	User          string
	Key           string
	DeactivateNow bool
	AutoApprove   bool
}

func newRotateCommand(g *GlobalOptions) *cobra.Command {
	var o rotateFlags
	cmd := &cobra.Command{
		Use:   "rotate --account ID --user NAME [--key AKIA...] [--deactivate-now]",
		Short: "Rotate one user's access key now: a new key into Secrets Manager, the old one deactivated at the cutover",
		Long: `Rotate one IAM user's access key on demand: an incident, a leaked key, a
key someone saw in a log.

keywarden reads the account, makes the plan of that user — the rotation,
after deleting an inactive key of the user whose delete stage is due if
IAM's two-key quota needs the room — shows it, asks you to type the plan's
ID to confirm (a terminal is required unless --auto-approve), and applies it
as 'apply' does: journaled, under the state store's lock, with the same
guards, and the owner told where the new key is (docs/rotation.md).

The new key goes to Secrets Manager as the policy's rotation section says,
whether or not the policy rotates keys by itself. The old key stays active
until the cutover (the new key in use, the old one quiet); with
--deactivate-now it is deactivated as soon as the new key is stored — for a
leaked key, at the risk of breaking what still uses it.

Undo with 'keywarden undo RUN_ID': it reactivates the old key and leaves the
new key and its secret in place.`,
		Example: `  keywarden rotate --account 111111111111 --user ci-deployer
  keywarden rotate --account 111111111111 --user ci-deployer --key AKIAIOSFODNN7EXAMPLE --deactivate-now`,
		RunE: func(cmd *cobra.Command, args []string) error { return runRotate(cmd, o, g.Logger) },
	}
	o.role.add(cmd)
	o.read.add(cmd, false)
	o.policy.add(cmd)
	o.aws.add(cmd)
	o.state.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Account, "account", "", "the `account ID` of the user")
	f.StringVar(&o.User, "user", "", "the IAM user `name`")
	f.StringVar(&o.Key, "key", "", "the access `key ID` to replace (default: the user's one active key)")
	f.BoolVar(&o.DeactivateNow, "deactivate-now", false, "deactivate the old key as soon as the new one is stored (a leaked key)")
	f.BoolVar(&o.AutoApprove, "auto-approve", false, "do not ask for confirmation")
	return cmd
}

func runRotate(cmd *cobra.Command, o rotateFlags, log *slog.Logger) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	switch {
	case !accountIDPattern.MatchString(o.Account):
		return usagef(cmd, "--account %q: want a 12-digit account ID", o.Account)
	case o.User == "":
		return usagef(cmd, "--user: the IAM user whose key to rotate")
	case o.Key != "" && !accessKeyIDPattern.MatchString(o.Key):
		return usagef(cmd, "--key %q: want an access key ID (16 to 128 capital letters and digits, such as AKIAIOSFODNN7EXAMPLE)", o.Key)
	}
	if o.read.AsOf != "" {
		return usagef(cmd, "--as-of: a rotation happens now; plan with --as-of to see what is coming")
	}
	confirm, err := newConfirmation(cmd, "rotate", o.AutoApprove)
	if err != nil {
		return err
	}
	j, err := prepare(cmd, o.policy, selectionFlags{Accounts: []string{o.Account}}, o.role, o.read)
	if err != nil {
		return err
	}
	st, err := j.connectState(ctx, "rotate", o.state, o.aws, log)
	if err != nil {
		return err
	}
	defer st.Close()
	req := engine.RotateRequest{AccountID: o.Account, UserName: o.User, AccessKeyID: o.Key, DeactivateNow: o.DeactivateNow, Read: j.read,
		Progress: func(r remediate.ActionResult) { printResult(stdout, r) },
		Planned:  func(p *remediate.Plan) { printPlan(stdout, p) }}
	req.Started = func(runID string, _ bool) {
		fmt.Fprintf(stdout, "\nRotating as run %s (%s)\n", runID, j.eng.Hub.CallerARN)
	}
	req.Confirm = func(prep *remediate.Prepared) error {
		printPrepared(stdout, prep, false)
		return confirm.ask(ctx, stdout, "\nThis creates a new key for "+o.User+" in AWS. To go ahead, type the plan's ID", prep.Plan.ID)
	}
	res, err := j.eng.Rotate(ctx, req)
	if res != nil && res.Outcome != nil {
		j.printRun(stdout, stderr, res.Outcome, res.Notifications)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && res != nil && res.Outcome != nil && res.Outcome.Status == store.RunInterrupted {
			fmt.Fprintf(stderr, "keywarden: interrupted; see 'keywarden history --run %s' for what was done\n", res.Outcome.RunID)
		}
		return err
	}
	return failedActions(res.Outcome)
}
