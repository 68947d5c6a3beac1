package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/report"
)

// DemoOptions are the flags of "keywarden demo".
type DemoOptions struct {
	Sandbox SandboxOptions
	Scan    ScanOptions
}

func newDemoCommand(g *GlobalOptions) *cobra.Command {
	opts := DemoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Scan a generated organization in a local AWS sandbox",
		Long: `Start the local AWS sandbox in this process with a generated organization
(a management account, member accounts in OUs, a few dozen users with keys
of every age and use), then scan it exactly as keywarden scans a real one:
from the management account, listing the organization and assuming the spoke
role in every member account.

Nothing outside this process is touched and no AWS account is needed. See
docs/sandbox.md for the sandbox, and 'keywarden scan --help' for the scan.`,
		Example: `  keywarden demo
  keywarden demo --accounts 20 --users-per-account 40 --format json
  keywarden demo --unassumable 1 --throttle-rate 5`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), opts, g.Logger, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	addSandboxFlags(f, &opts.Sandbox, 4, 12)
	sc := &opts.Scan
	f.StringVar(&sc.Source, "source", "report", "read keys from the credential `report` or the IAM `api`")
	f.StringVar(&sc.KeyIDs, "key-ids", "attention", "read key IDs for keys needing `attention`, for all, or none")
	f.StringVar(&sc.Format, "format", "table", "output `format`: table, json, csv, html, markdown, asff or ocsf")
	f.StringVarP(&sc.Output, "output", "o", "", "write the output to this `file` instead of stdout")
	f.StringVar(&sc.AsOf, "as-of", "", "compute ages as if it were this `date` (YYYY-MM-DD or RFC 3339)")
	return cmd
}

func runDemo(ctx context.Context, o DemoOptions, log *slog.Logger, stdout, stderr io.Writer) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sb := o.Sandbox
	sb.Addr = "127.0.0.1:0"
	sb.RoleName = "KeywardenSpoke"
	if err := sb.validate(); err != nil {
		return withCommand(err, "keywarden demo")
	}
	sc := o.Scan
	sc.Organization = true
	sc.builtinPolicy = true // the demo is the same wherever it runs
	sc.FailOn = "none"
	sc.RoleName = sb.RoleName
	sc.Parallel = 8
	sc.AccountTimeout = 2 * time.Minute
	p, err := sc.parse()
	if err != nil {
		return withCommand(err, "keywarden demo")
	}

	// The sandbox logs nothing of its own here: its calls are the demo's.
	rs, err := startSandbox(sb, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer rs.Close()
	org := rs.Org
	fmt.Fprintf(stderr, "keywarden demo: a local AWS sandbox at %s holds a generated organization:\n", rs.URL)
	fmt.Fprintf(stderr, "  %d accounts (management %s), %d IAM users, %d access keys.\n", len(org.Accounts), org.ManagementAccount, org.Users, org.Keys)
	fmt.Fprintf(stderr, "Scanning it as the hub identity %s, as 'keywarden scan --org' would:\n\n", org.AdminUser)

	base, err := awsx.Load(ctx, awsx.Options{
		Region: awsemu.DefaultRegion, Endpoint: rs.URL,
		Credentials: credentials.NewStaticCredentialsProvider(org.AdminKey.AccessKeyID, org.AdminKey.SecretAccessKey, ""),
	})
	if err != nil {
		return err
	}
	res, err := scanAccounts(ctx, sc, p, base, log, stderr)
	if err != nil {
		return err
	}
	scanErr := writeScan(res.inv, p, sc.Output, stdout)
	if p.format != report.FormatTable || sc.Output != "" {
		return scanErr
	}
	// Then what a plan would do: the demo changes nothing.
	sess, err := newSession(ctx, base, "plan", p.roleName, p.externalID, false)
	if err != nil {
		return err
	}
	findings := p.policy.Evaluate(res.inv, policy.Options{AsOf: res.inv.FinishedAt})
	plan, err := remediate.Make(ctx, remediate.Inputs{
		Inventory: res.inv, Findings: findings, Policy: p.policy, AsOf: res.inv.FinishedAt, Now: time.Now(),
		Caller: sess.caller, CallerKeyID: sess.callerKeyID, RunID: sess.runID,
		DeactivatedAt: func(context.Context, string, string) (time.Time, bool, error) { return time.Time{}, false, nil },
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nWhat 'keywarden plan' would do (the demo changes nothing):\n\n")
	printPlan(stdout, plan)
	return scanErr
}

// withCommand makes a usage error name the command the user ran.
func withCommand(err error, command string) error {
	if ue, ok := err.(*UsageError); ok {
		return &UsageError{Command: command, Err: ue.Err}
	}
	return err
}
