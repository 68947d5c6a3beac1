package cli

import (
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/engine"
)

// notifyFlags are the flags of "keywarden notify retry|pending".
type notifyFlags struct {
	policy policyFlags
	aws    awsFlags
	state  stateFlags
}

func newNotifyCommand(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Deliver the notifications kept in the outbox",
		Long: `Notifications that could not be delivered after an apply — a channel down,
Ctrl-C during delivery — are kept in the state store's outbox and retried by
every later apply, for up to a week, with a growing wait between tries.
'notify retry' delivers those due now; 'notify pending' lists them.
A digest delivered again carries the same idempotency key
(docs/notifications.md), so a receiver can drop a repeat.`,
	}
	var o notifyFlags
	retry := &cobra.Command{
		Use:   "retry",
		Short: "Deliver the notifications in the outbox that are due",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNotifyRetry(cmd, o, g.Logger)
		},
	}
	o.policy.add(retry)
	o.aws.add(retry)
	o.state.add(retry)
	var p notifyFlags
	pending := &cobra.Command{
		Use:   "pending",
		Short: "List the notifications in the outbox",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNotifyPending(cmd, p)
		},
	}
	p.state.add(pending)
	p.aws.add(pending)
	cmd.AddCommand(retry, pending)
	return cmd
}

func runNotifyRetry(cmd *cobra.Command, o notifyFlags, log *slog.Logger) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	pol, err := o.policy.load()
	if err != nil {
		return err
	}
	st, err := openExistingState(ctx, o.state.State, o.aws)
	if err != nil {
		return err
	}
	defer st.Close()
	// SNS and SES channels use the AWS configuration; nothing else needs it.
	cfg, err := o.aws.config(ctx, log)
	if err != nil {
		return err
	}
	eng := &engine.Engine{Policy: pol, Store: st, Log: log,
		Notify: engine.NotifyOptions{Delivery: notifyDelivery, Registry: engine.ChannelRegistry(cfg)}}
	rep, err := eng.RetryNotices(ctx)
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stderr, "keywarden: %s\n", p)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(stderr, "keywarden: %s\n", f)
	}
	fmt.Fprintf(stdout, "notifications: %d delivered, %d still kept for later\n", rep.Retried, rep.StillQueued)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rep.StillQueued > 0 {
		return fmt.Errorf("%d notifications could not be delivered; they are tried again later", rep.StillQueued)
	}
	return nil
}

func runNotifyPending(cmd *cobra.Command, o notifyFlags) error {
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	st, err := openExistingState(ctx, o.state.State, o.aws)
	if err != nil {
		return err
	}
	defer st.Close()
	ns, err := st.PendingNotices(ctx, time.Now())
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		fmt.Fprintln(stdout, "no notifications waiting")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KEPT\tRUN\tRECIPIENT\tCHANNEL\tATTEMPTS\tNEXT TRY\tGIVEN UP AT\tLAST ERROR")
	for _, n := range ns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", n.CreatedAt.Format(time.RFC3339), n.RunID, n.Recipient, n.Channel,
			n.Attempts, n.NextAttemptAt.Format(time.RFC3339), n.ExpiresAt.Format(time.RFC3339), n.LastError)
	}
	return tw.Flush()
}
