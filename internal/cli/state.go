package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/store"
)

func newStateCommand(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Manage the state store",
		Long: `The state store keeps the journal of every apply and undo, the lock that lets
one run at a time, and the notifications. A SQLite file is the default; a
DynamoDB table (--state dynamodb://TABLE) is shared by laptops, CI and the
scheduled Lambda, so that they never claim the same work (docs/state.md).`,
	}
	var state stateFlags
	var af awsFlags
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the DynamoDB table of a shared state store",
		Long: `Create the DynamoDB table --state dynamodb://TABLE names: on-demand billing,
encryption, deletion protection and point-in-time recovery. A table that
exists with the right key schema only has point-in-time recovery turned on;
one with another key schema is an error. The deploy templates create the
same table.`,
		Example: `  keywarden state init --state dynamodb://keywarden-state --region eu-west-1`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStateInit(cmd, state, af, g.Logger)
		},
	}
	state.add(initCmd)
	af.add(initCmd)
	cmd.AddCommand(initCmd)
	cmd.AddCommand(newStateMigrateCommand(g))
	return cmd
}

// StateMigrateOptions are the flags of 'keywarden state migrate'.
type StateMigrateOptions struct {
	From, To string
	Merge    bool
}

func newStateMigrateCommand(g *GlobalOptions) *cobra.Command {
	var o StateMigrateOptions
	var af awsFlags
	cmd := &cobra.Command{
		Use:   "migrate --from STATE --to STATE",
		Short: "Copy a state store into another (SQLite to DynamoDB, or back)",
		Long: `Copy every run with its journal (each action's intent and result), every
notification and the pending notices of the outbox from one state store into
another: a SQLite file or dynamodb://TABLE, either way. The source is left as
it is. Both stores are locked while they are copied, so no apply can write
to either meanwhile. The destination must be empty, unless --merge: then only
what it lacks is added, so a copy cut short can be run again. The
destination is read back and checked against the source before it succeeds.
A table must exist first ('keywarden state init').`,
		Example: `  keywarden state migrate --from ~/.config/keywarden/state.db --to dynamodb://keywarden-state
  keywarden state migrate --from dynamodb://keywarden-state --to backup.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStateMigrate(cmd, o, af, g.Logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "", "the state store to copy: a SQLite `file` or dynamodb://TABLE")
	f.StringVar(&o.To, "to", "", "the state store to copy into: a SQLite `file` or dynamodb://TABLE")
	f.BoolVar(&o.Merge, "merge", false, "copy into a state store that holds state already, adding what it lacks")
	af.add(cmd)
	return cmd
}

func runStateMigrate(cmd *cobra.Command, o StateMigrateOptions, af awsFlags, log *slog.Logger) error {
	if o.From == "" || o.To == "" {
		return usagef(cmd, "--from and --to are both required")
	}
	var cfg aws.Config
	if engine.IsSharedState(o.From) || engine.IsSharedState(o.To) {
		var err error
		if cfg, err = af.config(cmd.Context(), log); err != nil {
			return err
		}
	}
	c, err := engine.MigrateState(cmd.Context(), o.From, o.To, cfg, o.Merge, "migrate-"+awsx.NewRunID(time.Now()))
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("%w; to add what it lacks, run again with --merge", err)
	}
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Copied %d of %d runs, %d of %d journal entries, %d of %d notifications, %d of %d pending notices and %d of %d scan snapshots from %s to %s (the rest were there already).\n",
		c.CopiedRuns, c.Runs, c.CopiedEntries, c.Entries, c.CopiedNotifications, c.Notifications, c.CopiedNotices, c.Notices,
		c.CopiedSnapshots, c.Snapshots, o.From, o.To)
	fmt.Fprintf(w, "Checked: %s holds every one of them. Use it with --state %s or KEYWARDEN_STATE.\n", o.To, o.To)
	return nil
}

func runStateInit(cmd *cobra.Command, state stateFlags, af awsFlags, log *slog.Logger) error {
	if state.State == "" {
		return usagef(cmd, "--state dynamodb://TABLE is required")
	}
	cfg, err := af.config(cmd.Context(), log)
	if err != nil {
		return err
	}
	table, err := engine.InitState(cmd.Context(), state.State, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "State store dynamodb://%s is ready in %s. Use it with --state dynamodb://%s or KEYWARDEN_STATE.\n", table, cfg.Region, table)
	return nil
}
