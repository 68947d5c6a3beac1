package cli

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/report"
)

// DemoOptions are the flags of "keywarden demo".
type DemoOptions struct {
	Sandbox SandboxOptions
	read    readFlags
	out     outputFlags
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
role in every member account. It ends with what a plan would do, under the
built-in policy with the break-glass users protected.

Nothing outside this process is touched and no AWS account is needed. See
docs/sandbox.md for the sandbox, and 'keywarden scan --help' for the scan.`,
		Example: `  keywarden demo
  keywarden demo --accounts 20 --users-per-account 40 --format json
  keywarden demo --unassumable 1 --throttle-rate 5`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd, opts, g.Logger)
		},
	}
	f := cmd.Flags()
	addSandboxFlags(f, &opts.Sandbox, 4, 12)
	f.StringVar(&opts.read.Source, "source", "report", "read keys from the credential `report` or the IAM `api`")
	f.StringVar(&opts.read.KeyIDs, "key-ids", "attention", "read key IDs for keys needing `attention`, for all, or none")
	f.StringVar(&opts.read.AsOf, "as-of", "", "compute ages as if it were this `date` (YYYY-MM-DD or RFC 3339)")
	opts.read.Parallel, opts.read.AccountTimeout = 8, 2*time.Minute
	opts.out.add(cmd, "table, json, csv, html, markdown, asff or ocsf")
	return cmd
}

// demoProtected are the users the demo's policy protects: the sandbox's
// organizations have a break-glass admin in every account.
var demoProtected = []string{"break-glass-*"}

func runDemo(cmd *cobra.Command, o DemoOptions, log *slog.Logger) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	sb := o.Sandbox
	sb.Addr = "127.0.0.1:0"
	sb.RoleName = "KeywardenSpoke"
	if err := sb.validate(); err != nil {
		return withCommand(err, "keywarden demo")
	}
	format, err := o.out.check(cmd)
	if err != nil {
		return err
	}
	// The demo is the same wherever it runs: the built-in policy, with the
	// break-glass users protected as a real installation would.
	pol := policy.Default()
	pol.Safety.ProtectedUsers = demoProtected
	rd, err := o.read.read(cmd, inventory.Selection{Organization: true})
	if err != nil {
		return err
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

	j := &job{pol: pol, read: rd, role: roleFlags{RoleName: sb.RoleName}}
	if err := j.connect(ctx, "plan", awsFlags{}, nil, log, &awsx.Options{
		Region: awsemu.DefaultRegion, Endpoint: rs.URL,
		Credentials: credentials.NewStaticCredentialsProvider(org.AdminKey.AccessKeyID, org.AdminKey.SecretAccessKey, ""),
	}); err != nil {
		return err
	}
	res, err := planWithProgress(ctx, j, stderr)
	if err != nil {
		return err
	}
	scanErr := writeScan(res.Scan, rd.AsOf, format, o.out.Output, j.eng.Hub.Base.Region, "none", stdout)
	if format != report.FormatTable || o.out.Output != "" {
		return scanErr
	}
	// Then what a plan would do: the demo changes nothing.
	fmt.Fprintf(stdout, "\nWhat 'keywarden plan' would do (the demo changes nothing; %s are protected):\n\n", strings.Join(demoProtected, ", "))
	printPlanAs(stdout, res.Plan, true)
	fmt.Fprint(stdout, demoNext(res.Plan, sb))
	return scanErr
}

// demoNext is what to try after the demo. A plan over the safety limits is
// refused by apply, so the steps then plan only the accounts within them.
func demoNext(p *remediate.Plan, sb SandboxOptions) string {
	planCmd := "keywarden plan --org --out plan.json      "
	var within []string
	if p.Limits.Exceeded && len(p.Limits.OverAccounts) > 0 {
		over := map[string]bool{}
		for _, a := range p.Limits.OverAccounts {
			over[a] = true
		}
		seen := map[string]bool{}
		for _, a := range p.Actions {
			if (a.Type == remediate.Deactivate || a.Type == remediate.Delete) && !over[a.AccountID] && !seen[a.AccountID] {
				seen[a.AccountID] = true
				within = append(within, a.AccountID)
			}
		}
		sort.Strings(within)
	}
	var b strings.Builder
	b.WriteString("\nNext, against a sandbox that keeps running, from another shell:\n")
	// The same organization as the demo's: same seed and size.
	fmt.Fprintf(&b, "  keywarden sandbox --seed %d --accounts %d --users-per-account %d --env-file sandbox.env\n",
		sb.Seed, sb.Accounts, sb.UsersPerAccount)
	b.WriteString("                                             # the demo's organization; leave it running\n")
	b.WriteString("  . ./sandbox.env                            # point the AWS CLI and keywarden at it\n")
	b.WriteString("  printf 'version: 1\\nsafety:\\n  protected_users: [\"break-glass-*\"]\\n' > keywarden.yaml\n")
	b.WriteString("                                             # protect them as the demo did\n")
	if len(within) > 0 {
		fmt.Fprintf(&b, "  keywarden plan --accounts %s --out plan.json\n", strings.Join(within, ","))
		b.WriteString("                                             # the accounts within the safety limits\n")
	} else {
		fmt.Fprintf(&b, "  %s # what would change, saved\n", planCmd)
	}
	b.WriteString("  keywarden apply plan.json                  # judged again, confirmed, journaled\n")
	b.WriteString("  keywarden undo RUN_ID                      # reactivate what the run deactivated\n")
	if p.Limits.Exceeded {
		b.WriteString("The whole organization's plan is over the safety limits, and apply refuses it\n")
		b.WriteString("as it stands: plan fewer accounts, or change safety.* in a policy file.\n")
	}
	b.WriteString("See docs/sandbox.md, and docs/safety.md for every guard.\n")
	return b.String()
}

// withCommand makes a usage error name the command the user ran.
func withCommand(err error, command string) error {
	if ue, ok := err.(*UsageError); ok {
		return &UsageError{Command: command, Err: ue.Err}
	}
	return err
}
