package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	sh "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/securityhub"
)

// ExportSecurityHubOptions are the flags of "keywarden export securityhub".
type ExportSecurityHubOptions struct {
	Scan ScanOptions
}

func newExportCommand(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Send the findings of a scan to another system",
		Long: `Scan the selected accounts, judge every key by the policy, and send the
findings to another system. To write them to a file instead, use
'keywarden scan --format asff' (AWS Security Finding Format) or
'--format ocsf' (OCSF Compliance Finding events).`,
	}
	cmd.AddCommand(newExportSecurityHubCommand(g))
	return cmd
}

func newExportSecurityHubCommand(g *GlobalOptions) *cobra.Command {
	var opts ExportSecurityHubOptions
	cmd := &cobra.Command{
		Use:   "securityhub",
		Short: "Scan, then import the findings into AWS Security Hub",
		Long: `Scan the selected accounts as 'keywarden scan' does, judge every key by the
policy, and import the findings into AWS Security Hub with
BatchImportFindings, as a custom integration: one finding per key and rule.

Each account's findings are imported into that account's Security Hub, in
the region of the AWS configuration (--region), through the same role the
scan reads it with: BatchImportFindings only takes a custom integration's
findings from their own account. The role (and the caller, for its own
account) needs securityhub:GetFindings and securityhub:BatchImportFindings,
and Security Hub must be enabled there; a delegated administrator then sees
every account's findings.

A finding's Id is the same from one run to the next, so the next export
updates it instead of adding another. A finding that is no longer found (the
key was rotated, used, deleted) is resolved: imported again as PASSED and
ARCHIVED. Only accounts read completely are resolved; an account that could
not be read keeps its findings as they were. Exempt findings are imported
ARCHIVED, with the exemption's reason in their product fields.

Prints "Security Hub: N imported, M resolved, K failed". Exit codes: 1 when
any finding could not be imported (each is named on stderr), 3 when some
accounts could not be read (their findings are left alone). See
docs/scripting.md.`,
		Example: `  keywarden export securityhub --org
  keywarden export securityhub --accounts 111111111111 --region eu-west-1`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Scan.changed = cmd.Flags().Changed
			return runExportSecurityHub(cmd.Context(), opts, g.Logger, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addScanFlags(cmd, &opts.Scan)
	return cmd
}

const exportCommand = "keywarden export securityhub"

// maxFailuresShown is how many findings that failed are named on stderr.
const maxFailuresShown = 10

func runExportSecurityHub(ctx context.Context, o ExportSecurityHubOptions, log *slog.Logger, stdout, stderr io.Writer) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Scan.AsOf != "" {
		return &UsageError{Command: exportCommand,
			Err: errors.New("--as-of: Security Hub gets what is true now; to see a forecast, run 'keywarden scan --as-of'")}
	}
	p, err := o.Scan.parse()
	if err != nil {
		return withCommand(err, exportCommand)
	}
	base, err := awsx.Load(ctx, awsx.Options{Profile: o.Scan.Profile, Region: o.Scan.Region})
	if err != nil {
		return err
	}
	res, err := scanAccounts(ctx, o.Scan, p, base, log, stderr)
	if err != nil {
		return err
	}
	inv := res.inv
	findings := p.policy.Evaluate(inv, policy.Options{AsOf: inv.FinishedAt})
	doc := report.Build(inv, report.BuildOptions{GeneratedAt: inv.FinishedAt, Findings: reportFindings(findings)})
	partition := callerPartition(inv.Caller)
	asff := report.ASFF(doc, report.ASFFOptions{Region: base.Region, Partition: partition, ProductVersion: buildVersion()})

	sess, err := newSession(ctx, base, "export", p.roleName, p.externalID, o.Scan.HubViaRole)
	if err != nil {
		return err
	}
	byAccount := map[string][]report.ASFFFinding{}
	for _, f := range asff {
		byAccount[f.AWSAccountID] = append(byAccount[f.AWSAccountID], f)
	}
	var accounts []string
	for _, a := range doc.Accounts {
		if a.Status == string(inventory.AccountOK) {
			accounts = append(accounts, a.ID)
		}
	}

	// One account's Security Hub failing does not stop the others.
	now := time.Now()
	results := make([]securityhub.Result, len(accounts))
	errs := make([]error, len(accounts))
	var g errgroup.Group
	g.SetLimit(o.Scan.Parallel)
	for i, id := range accounts {
		g.Go(func() error {
			client := sh.NewFromConfig(sess.config(id))
			r, err := securityhub.Export(ctx, client, byAccount[id], securityhub.Options{
				ProductARN: report.ASFFProductARN(partition, base.Region, id),
				Accounts:   []string{id},
				Now:        now,
			})
			if err != nil && r.Failed == 0 {
				// Nothing was sent: every finding of the account failed.
				for _, f := range byAccount[id] {
					r.Failures = append(r.Failures, securityhub.Failure{ID: f.ID, Code: "NotSent", Message: err.Error()})
				}
				r.Failed = len(r.Failures)
			}
			results[i], errs[i] = r, err
			log.Info("security hub", "account", id, "imported", r.Imported, "resolved", r.Resolved, "failed", r.Failed)
			return nil
		})
	}
	_ = g.Wait() // the functions return nil; errors are per account
	if err := ctx.Err(); err != nil {
		return err
	}

	// Findings refused one by one are named; those of an account whose
	// export stopped are not: its error says why.
	var total securityhub.Result
	var accountErrs []string
	var refused []securityhub.Failure
	for i, r := range results {
		total.Add(r)
		if errs[i] != nil {
			accountErrs = append(accountErrs, accounts[i])
			fmt.Fprintf(stderr, "keywarden: security hub of account %s (%s): %v\n", accounts[i], base.Region, errs[i])
			continue
		}
		refused = append(refused, r.Failures...)
	}
	for i, f := range refused {
		if i == maxFailuresShown {
			fmt.Fprintf(stderr, "keywarden: and %d more findings not imported\n", len(refused)-i)
			break
		}
		fmt.Fprintf(stderr, "keywarden: finding %s not imported: %s: %s\n", f.ID, f.Code, f.Message)
	}
	fmt.Fprintf(stdout, "Security Hub: %d imported, %d resolved, %d failed\n", total.Imported, total.Resolved, total.Failed)

	if total.Failed > 0 || len(accountErrs) > 0 {
		msg := fmt.Sprintf("%d findings could not be imported into Security Hub", total.Failed)
		if len(accountErrs) > 0 {
			msg += fmt.Sprintf(" (accounts %s failed; check that Security Hub is enabled in %s and that the role may call securityhub:GetFindings and securityhub:BatchImportFindings)",
				listSome(accountErrs, 3), base.Region)
		}
		return errors.New(msg)
	}
	if failed := inv.Failed(); len(failed) > 0 {
		return fmt.Errorf("%w: %d of %d accounts failed and their findings in Security Hub were left as they were (%s)",
			ErrPartial, len(failed), len(inv.Accounts), failedSummary(failed))
	}
	return nil
}

// renderScan renders a scan's document in format f: asff and ocsf with
// the region of the AWS configuration and keywarden's version, which
// report.Render does not know.
func renderScan(w io.Writer, doc *report.Document, f report.Format, region string) error {
	switch f {
	case report.FormatASFF:
		return report.RenderASFF(w, doc, report.ASFFOptions{Region: region, ProductVersion: buildVersion()})
	case report.FormatOCSF:
		return report.RenderOCSF(w, doc, report.OCSFOptions{ProductVersion: buildVersion()})
	}
	return report.Render(w, doc, f)
}

// listSome joins the first n of ss, and says how many more there are.
func listSome(ss []string, n int) string {
	if len(ss) <= n {
		return strings.Join(ss, ", ")
	}
	return strings.Join(ss[:n], ", ") + fmt.Sprintf(" and %d more", len(ss)-n)
}

// callerPartition is the partition of the caller's ARN (aws, aws-us-gov,
// aws-cn), "aws" when it is not an ARN.
func callerPartition(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}
