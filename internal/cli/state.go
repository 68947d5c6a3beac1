package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
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
encryption, deletion protection and point-in-time recovery. Nothing is done
to a table that exists with the right key schema. The deploy templates create
the same table.`,
		Example: `  keywarden state init --state dynamodb://keywarden-state --region eu-west-1`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStateInit(cmd, state, af, g.Logger)
		},
	}
	state.add(initCmd)
	af.add(initCmd)
	cmd.AddCommand(initCmd)
	return cmd
}

func runStateInit(cmd *cobra.Command, state stateFlags, af awsFlags, log *slog.Logger) error {
	if state.State == "" {
		return usagef(cmd, "--state dynamodb://TABLE is required")
	}
	cfg, err := awsx.Load(cmd.Context(), awsx.Options{Profile: af.Profile, Region: af.Region, Logger: log})
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
